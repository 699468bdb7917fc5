import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Why a call to the controller failed.
public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
  case unreachable(url: String, reason: String)
  case refused(status: Int, message: String)
  case unexpectedResponse(String)
  case file(path: String, reason: String)

  public var description: String {
    switch self {
    case .unreachable(let url, let reason):
      return "cannot reach the controller at \(url): \(reason)"
    case .refused(let status, let message):
      return "the controller refused the request (HTTP \(status)): \(message)"
    case .unexpectedResponse(let detail):
      return "unexpected answer from the controller: \(detail)"
    case .file(let path, let reason):
      return "\(path): \(reason)"
    }
  }
}

/// The operator's HTTPS client for the controller's REST API, authenticated
/// by an operator client certificate.
public final class ControllerClient: Sendable {
  public let baseURL: String
  private let http: HTTPClient

  public init(baseURL: String, caFile: String, certificate: String, key: String) throws {
    self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file(caFile)
    do {
      tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
      tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
    } catch {
      throw ClientError.file(path: certificate, reason: "cannot load the operator certificate or key (\(error))")
    }
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    configuration.timeout.connect = .seconds(10)
    http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
  }

  public func shutdown() async {
    try? await http.shutdown()
  }

  /// Uploads a release from a file, streaming it (never whole in memory).
  public func uploadRelease(
    package: String, version: String, file: String, handler: String = "script", name: String? = nil
  ) async throws -> API.Release {
    guard let handle = FileHandle(forReadingAtPath: file),
      let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value
    else { throw ClientError.file(path: file, reason: "cannot read the file") }
    let assetName = name ?? URL(fileURLWithPath: file).lastPathComponent
    var components = URLComponents()
    components.queryItems = [
      URLQueryItem(name: "handler", value: handler), URLQueryItem(name: "name", value: assetName),
    ]
    var request = HTTPClientRequest(
      url: "\(baseURL)/api/v1/releases/\(Self.escape(package))/\(Self.escape(version))\(components.string ?? "")")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/octet-stream")
    let chunks = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
      do {
        while let data = try handle.read(upToCount: 256 * 1024), !data.isEmpty {
          continuation.yield(ByteBuffer(bytes: data))
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
      try? handle.close()
    }
    request.body = .stream(chunks, length: .known(size))
    return try await send(request, as: API.Release.self)
  }

  /// Whether the controller is ready (its MQTT session subscribed).
  public func isHealthy() async -> Bool {
    guard let response = try? await http.execute(HTTPClientRequest(url: "\(baseURL)/healthz"), timeout: .seconds(10))
    else { return false }
    _ = try? await response.body.collect(upTo: 4096)
    return response.status == .ok
  }

  public func releases(package: String? = nil) async throws -> [API.Release] {
    let query = package.map { "?package=\(Self.escape($0))" } ?? ""
    return try await get("/api/v1/releases\(query)", as: [API.Release].self)
  }

  public func devices() async throws -> [API.Device] {
    try await get("/api/v1/devices", as: [API.Device].self)
  }

  public func createDeployment(_ body: API.CreateDeployment) async throws -> API.Deployment {
    var request = HTTPClientRequest(url: "\(baseURL)/api/v1/deployments")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: Wire.encode(body)))
    return try await send(request, as: API.Deployment.self)
  }

  public func deployment(_ id: String) async throws -> API.Deployment {
    try await get("/api/v1/deployments/\(Self.escape(id))", as: API.Deployment.self)
  }

  public func deployments() async throws -> [API.Deployment] {
    try await get("/api/v1/deployments", as: [API.Deployment].self)
  }

  private func get<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
    try await send(HTTPClientRequest(url: baseURL + path), as: type)
  }

  private func send<T: Decodable>(_ request: HTTPClientRequest, as type: T.Type) async throws -> T {
    let response: HTTPClientResponse
    let body: ByteBuffer
    do {
      response = try await http.execute(request, timeout: .seconds(600))
      body = try await response.body.collect(upTo: 64 << 20)
    } catch {
      throw ClientError.unreachable(url: baseURL, reason: "\(error)")
    }
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    guard (200..<300).contains(response.status.code) else {
      let message =
        (try? decoder.decode(API.ErrorBody.self, from: Data(body.readableBytesView)))?.error.message
        ?? String(buffer: body)
      throw ClientError.refused(status: Int(response.status.code), message: message)
    }
    do {
      return try decoder.decode(T.self, from: Data(body.readableBytesView))
    } catch {
      throw ClientError.unexpectedResponse("\(error)")
    }
  }

  private static func escape(_ segment: String) -> String {
    segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
      ?? segment
  }
}
