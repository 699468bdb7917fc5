import AirliftCore
import AsyncHTTPClient

/// Repositories, draft versions, tag lookups and the repositories a device may read.
extension ControllerClient {
  public func createRepository(_ name: String, description: String? = nil) async throws -> API.Repository {
    try await send(
      json: API.CreateRepository(name: name, description: description), method: .POST, path: "/api/v1/repositories",
      as: API.Repository.self)
  }

  public func repositories() async throws -> [API.Repository] {
    try await get("/api/v1/repositories", as: [API.Repository].self)
  }

  public func repository(_ name: String) async throws -> API.Repository {
    try await get("/api/v1/repositories/\(Self.escape(name))", as: API.Repository.self)
  }

  public func deleteRepository(_ name: String) async throws {
    var request = HTTPClientRequest(url: "\(baseURL)/api/v1/repositories/\(Self.escape(name))")
    request.method = .DELETE
    _ = try await send(request, as: Empty.self)
  }

  /// Adds an uploaded blob to a draft version under `name`.
  public func addAsset(package: String, version: String, name: String, sha256: String) async throws -> API.Release {
    try await send(
      json: API.AddAsset(name: name, sha256: sha256), method: .POST,
      path: "/api/v1/releases/\(Self.escape(package))/\(Self.escape(version))/assets", as: API.Release.self)
  }

  /// Deletes a release no live deployment names and no device runs; says what went with it.
  public func deleteRelease(package: String, version: String) async throws -> API.DeletedRelease {
    var request = HTTPClientRequest(
      url: "\(baseURL)/api/v1/releases/\(Self.escape(package))/\(Self.escape(version))")
    request.method = .DELETE
    return try await send(request, as: API.DeletedRelease.self)
  }

  public func sealRelease(package: String, version: String) async throws -> API.Release {
    try await send(
      json: [String: String](), method: .POST,
      path: "/api/v1/releases/\(Self.escape(package))/\(Self.escape(version))/seal", as: API.Release.self)
  }

  /// The version a tag names now.
  public func resolveTag(package: String, tag: String) async throws -> API.ResolvedTag {
    try await get(
      "/api/v1/packages/\(Self.escape(package))/tags/\(Self.escape(tag))", as: API.ResolvedTag.self)
  }

  /// Limits a device to these repositories; nil: all.
  public func setDeviceRepositories(_ device: String, _ repositories: [String]?) async throws
    -> API.DeviceRepositories
  {
    struct Body: Encodable {
      var repositories: [String]?
      func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(repositories, forKey: .repositories)  // null means all, so it is sent
      }
      enum CodingKeys: String, CodingKey { case repositories }
    }
    return try await send(
      json: Body(repositories: repositories), method: .PUT,
      path: "/api/v1/devices/\(Self.escape(device))/repositories", as: API.DeviceRepositories.self)
  }
}
