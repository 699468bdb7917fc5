import AirliftCore
import AsyncHTTPClient
import NIOCore

/// Metadata documents of versions (SBOM, build information, free JSON).
extension ControllerClient {
  /// Attaches a JSON document to a version under `name` (`sbom`, `build`, …).
  public func attachMetadata(package: String, version: String, name: String, document: [UInt8]) async throws
    -> API.MetadataDocument
  {
    var request = HTTPClientRequest(url: baseURL + Self.metadataPath(package, version, name))
    request.method = .PUT
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: document))
    return try await send(request, as: API.MetadataDocument.self)
  }

  /// A document's bytes, as attached.
  public func metadata(package: String, version: String, name: String) async throws -> [UInt8] {
    Array(
      try await raw(HTTPClientRequest(url: baseURL + Self.metadataPath(package, version, name))).1.readableBytesView)
  }

  /// The same document through the device route (a device certificate).
  public func deviceMetadata(package: String, version: String, name: String) async throws -> [UInt8] {
    let path = "/api/v1/device/releases/\(Self.escape(package))/\(Self.escape(version))/metadata/\(Self.escape(name))"
    return Array(try await raw(HTTPClientRequest(url: baseURL + path)).1.readableBytesView)
  }

  private static func metadataPath(_ package: String, _ version: String, _ name: String) -> String {
    "/api/v1/releases/\(escape(package))/\(escape(version))/metadata/\(escape(name))"
  }
}
