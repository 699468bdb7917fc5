import AirliftCore
import AsyncHTTPClient

/// Update flows: store, list, show, delete, and run one for a release.
extension ControllerClient {
  /// Stores a flow, or the next version of one with the same name.
  public func createFlow(_ definition: API.CreateFlow) async throws -> API.Flow {
    try await send(json: definition, method: .POST, path: "/api/v1/flows", as: API.Flow.self)
  }

  /// The newest version of each flow.
  public func flows() async throws -> [API.Flow] {
    try await get("/api/v1/flows", as: [API.Flow].self)
  }

  /// A flow's newest version, or `version`.
  public func flow(_ name: String, version: Int? = nil) async throws -> API.Flow {
    try await get("/api/v1/flows/\(Self.escape(name))", query: ["version": version.map(String.init)], as: API.Flow.self)
  }

  /// Every version of a flow, oldest first.
  public func flowVersions(_ name: String) async throws -> [API.Flow] {
    try await get("/api/v1/flows/\(Self.escape(name))", query: ["versions": "all"], as: [API.Flow].self)
  }

  public func deleteFlow(_ name: String) async throws {
    var request = HTTPClientRequest(url: "\(baseURL)/api/v1/flows/\(Self.escape(name))")
    request.method = .DELETE
    _ = try await send(request, as: Empty.self)
  }

  /// Runs a flow for a release with this run's parameter values; returns the deployment it created.
  public func launchFlow(_ name: String, _ request: API.LaunchFlow) async throws -> API.Deployment {
    try await send(
      json: request, method: .POST, path: "/api/v1/flows/\(Self.escape(name))/deployments", as: API.Deployment.self)
  }
}
