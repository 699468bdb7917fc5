import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Why a call to the controller failed.
public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
  case unreachable(url: String, reason: String)
  case refused(status: Int, code: String, message: String)
  case unexpectedResponse(String)
  case file(path: String, reason: String)

  public var description: String {
    switch self {
    case .unreachable(let url, let reason):
      return "cannot reach the controller at \(url): \(reason)"
    case .refused(let status, let code, let message):
      return "the controller refused the request (HTTP \(status), \(code)): \(message)"
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
  /// When set, every release this client creates is signed on this machine right after (valid for 90 days).
  public let signer: ReleaseSigningKey?
  /// An operator token sent as `Authorization: Bearer` (instead of a client certificate).
  private let token: String?

  public convenience init(
    baseURL: String, caFile: String, certificate: String, key: String, signer: ReleaseSigningKey? = nil
  )
    throws
  {
    try self.init(baseURL: baseURL, caFile: caFile, credential: .certificate(certificate, key: key), signer: signer)
  }

  /// Authenticates with an operator token; the controller's certificate is still checked against `caFile`.
  public convenience init(baseURL: String, caFile: String, token: String, signer: ReleaseSigningKey? = nil) throws {
    try self.init(baseURL: baseURL, caFile: caFile, credential: .token(token), signer: signer)
  }

  private enum Credential {
    case certificate(String, key: String)
    case token(String)
  }

  private init(baseURL: String, caFile: String, credential: Credential, signer: ReleaseSigningKey?) throws {
    self.signer = signer
    self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file(caFile)
    switch credential {
    case .certificate(let certificate, let key):
      token = nil
      do {
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
      } catch {
        throw ClientError.file(path: certificate, reason: "cannot load the operator certificate or key (\(error))")
      }
    case .token(let value):
      token = value
    }
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    configuration.timeout.connect = .seconds(10)
    // Below the controller's idle timeout (60 s by default): the client lets an unused connection go first.
    configuration.connectionPool = .init(idleTimeout: .seconds(20))
    http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
  }

  public func shutdown() async {
    try? await http.shutdown()
  }

  /// Uploads one asset, streaming it from disk (never whole in memory);
  /// `progress` gets the bytes sent so far and the total.
  public func uploadBlob(file: String, progress: (@Sendable (Int64, Int64) -> Void)? = nil) async throws -> API.Blob {
    guard let handle = FileHandle(forReadingAtPath: file),
      let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value
    else { throw ClientError.file(path: file, reason: "cannot read the file") }
    var request = HTTPClientRequest(url: "\(baseURL)/api/v1/blobs")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/octet-stream")
    let chunks = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
      var sent: Int64 = 0
      do {
        while let data = try handle.read(upToCount: 256 * 1024), !data.isEmpty {
          continuation.yield(ByteBuffer(bytes: data))
          sent += Int64(data.count)
          progress?(sent, size)
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
      try? handle.close()
    }
    request.body = .stream(chunks, length: .known(size))
    return try await send(request, as: API.Blob.self)
  }

  public func createRelease(_ body: API.CreateRelease) async throws -> API.Release {
    let release = try await send(json: body, method: .POST, path: "/api/v1/releases", as: API.Release.self)
    guard let signer else { return release }
    return try await signRelease(
      package: release.package, version: release.version, key: signer, expires: Date() + 90 * 86400)
  }

  /// Signs a release's manifest with `key` on this machine and uploads the signature: the private key
  /// never reaches the controller.
  public func signRelease(
    package: String, version: String, key: ReleaseSigningKey, expires: Date, downgrade: Bool = false
  ) async throws -> API.Release {
    let release = try await self.release(package: package, version: version)
    let manifest = ReleaseManifest(
      package: release.package, version: release.version, handler: release.handler,
      expires: ReleaseManifest.formatExpiry(expires), downgrade: downgrade,
      assets: release.assets, apps: release.apps, compatible: release.compatible)
    return try await uploadSignature(key.sign(manifest))
  }

  /// Uploads a manifest signed elsewhere (by `airlift release sign`, or with the `openssl` CLI).
  public func uploadSignature(_ signed: SignedManifest) async throws -> API.Release {
    try await send(
      json: signed, method: .PUT,
      path:
        "/api/v1/releases/\(Self.escape(signed.manifest.package))/\(Self.escape(signed.manifest.version))/signature",
      as: API.Release.self)
  }

  /// A release's signed manifest as the controller serves it to devices.
  public func signedManifest(package: String, version: String) async throws -> SignedManifest {
    try await get(
      "/api/v1/releases/\(Self.escape(package))/\(Self.escape(version))/manifest", as: SignedManifest.self)
  }

  /// Uploads a one-asset release: the file first, then the release.
  public func uploadRelease(
    package: String, version: String, file: String, handler: String = "script", name: String? = nil
  ) async throws -> API.Release {
    let blob = try await uploadBlob(file: file)
    return try await createRelease(
      API.CreateRelease(
        package: package, version: version, handler: handler,
        assets: [.init(name: name ?? URL(fileURLWithPath: file).lastPathComponent, sha256: blob.sha256)]))
  }

  /// Whether the controller is ready (`/readyz`: its MQTT session up, its database writable).
  public func isHealthy() async -> Bool {
    guard
      let response = try? await http.execute(
        authorized(HTTPClientRequest(url: "\(baseURL)/readyz")), timeout: .seconds(10))
    else { return false }
    _ = try? await response.body.collect(upTo: 4096)
    return response.status == .ok
  }

  public func releases(package: String? = nil) async throws -> [API.Release] {
    try await get("/api/v1/releases", query: ["package": package], as: [API.Release].self)
  }

  public func release(package: String, version: String) async throws -> API.Release {
    try await get("/api/v1/releases/\(Self.escape(package))/\(Self.escape(version))", as: API.Release.self)
  }

  /// What a device on `from` would fetch to update to `to` with deltas.
  public func estimateDelta(package: String, from: String, to: String) async throws -> DeltaEstimate {
    try await get(
      "/api/v1/releases/\(Self.escape(package))/\(Self.escape(to))/estimate", query: ["from": from],
      as: DeltaEstimate.self)
  }

  public func setTag(package: String, tag: String, version: String, locked: Bool) async throws -> API.Tag {
    try await send(
      json: API.SetTag(version: version, locked: locked), method: .PUT,
      path: "/api/v1/packages/\(Self.escape(package))/tags/\(Self.escape(tag))", as: API.Tag.self)
  }

  public func tags(package: String) async throws -> [API.Tag] {
    try await get("/api/v1/packages/\(Self.escape(package))/tags", as: [API.Tag].self)
  }

  /// Devices matching every given filter.
  public func devices(
    group: String? = nil, app: String? = nil, version: String? = nil, attributes: [String] = [], online: Bool? = nil,
    matching expression: String? = nil
  ) async throws -> [API.Device] {
    var query: [(String, String)] = []
    for (key, value) in [("group", group), ("app", app), ("version", version), ("where", expression)] {
      if let value { query.append((key, value)) }
    }
    query += attributes.map { ("attr", $0) }
    if let online { query.append(("online", online ? "true" : "false")) }
    return try await get("/api/v1/devices", queryItems: query, as: [API.Device].self)
  }

  public func device(_ id: String) async throws -> API.DeviceDetail {
    try await get("/api/v1/devices/\(Self.escape(id))", as: API.DeviceDetail.self)
  }

  /// Asks the device to switch `package` back to its previous version.
  public func rollBack(device: String, package: String, reason: String? = nil) async throws -> API.DeviceCommand {
    try await send(
      json: API.RollbackRequest(package: package, reason: reason), method: .POST,
      path: "/api/v1/devices/\(Self.escape(device))/rollback", as: API.DeviceCommand.self)
  }

  /// Revokes the device's certificates: the broker refuses it from then on.
  public func revokeDevice(_ device: String, reason: String? = nil) async throws -> API.Revocation {
    struct Body: Encodable { var reason: String? }
    return try await send(
      json: Body(reason: reason), method: .POST, path: "/api/v1/devices/\(Self.escape(device))/revoke",
      as: API.Revocation.self)
  }

  /// Makes an operator token; the answer holds its secret, shown only this once.
  public func createToken(name: String, role: API.Role, repositories: [String: API.Role]? = nil) async throws
    -> API.NewToken
  {
    try await send(
      json: API.CreateToken(name: name, role: role, repositories: repositories), method: .POST, path: "/api/v1/tokens",
      as: API.NewToken.self)
  }

  public func tokens() async throws -> [API.Token] { try await get("/api/v1/tokens", as: [API.Token].self) }

  public func revokeToken(name: String) async throws {
    var request = HTTPClientRequest(url: "\(baseURL)/api/v1/tokens/\(Self.escape(name))")
    request.method = .DELETE
    _ = try await send(request, as: Empty.self)
  }

  /// A bootstrap token for new devices (pre-registering `device` when given); its secret is shown once.
  public func createEnrollmentToken(_ request: API.CreateEnrollmentToken) async throws -> API.EnrollmentToken {
    try await send(json: request, method: .POST, path: "/api/v1/enrollment-tokens", as: API.EnrollmentToken.self)
  }

  public func enrollments() async throws -> [API.Enrollment] {
    try await get("/api/v1/enrollments", as: [API.Enrollment].self)
  }

  /// Approves (issues the certificate) or rejects a pending enrollment.
  /// Approves or rejects a pending request; approving one for a device the controller knows needs `replace`
  /// (its current certificates are revoked).
  public func decideEnrollment(_ device: String, approve: Bool, replace: Bool = false) async throws -> API.Enrollment {
    struct Body: Encodable { var replace: Bool? }
    return try await send(
      json: Body(replace: replace ? true : nil), method: .POST,
      path: "/api/v1/enrollments/\(Self.escape(device))/\(approve ? "approve" : "reject")", as: API.Enrollment.self)
  }

  /// Operator writes, newest first.
  public func auditLog(limit: Int = 100) async throws -> [API.AuditEntry] {
    try await get("/api/v1/audit", query: ["limit": "\(limit)"], as: [API.AuditEntry].self)
  }

  public func command(device: String, id: String) async throws -> API.DeviceCommand {
    try await get("/api/v1/devices/\(Self.escape(device))/commands/\(Self.escape(id))", as: API.DeviceCommand.self)
  }

  /// Sets (nil: clears) a group's maintenance window.
  public func setGroupWindow(_ name: String, window: String?, timeZone: String? = nil) async throws -> API.Group {
    struct Body: Encodable {
      var window: String?
      var timeZone: String?
    }
    return try await send(
      json: Body(window: window, timeZone: timeZone), method: .PUT, path: "/api/v1/groups/\(Self.escape(name))/window",
      as: API.Group.self)
  }

  public func groups() async throws -> [API.Group] {
    try await get("/api/v1/groups", as: [API.Group].self)
  }

  public func group(_ name: String) async throws -> API.Group {
    try await get("/api/v1/groups/\(Self.escape(name))", as: API.Group.self)
  }

  /// A static group, or with `expression` a dynamic one (members: the devices that match).
  public func createGroup(_ name: String, expression: String? = nil) async throws -> API.Group {
    struct Body: Encodable {
      var name: String
      var expression: String?
    }
    return try await send(
      json: Body(name: name, expression: expression), method: .POST, path: "/api/v1/groups", as: API.Group.self)
  }

  public func addToGroup(_ name: String, devices: [String]) async throws -> API.Group {
    try await send(
      json: API.GroupMembers(devices: devices), method: .POST, path: "/api/v1/groups/\(Self.escape(name))/devices",
      as: API.Group.self)
  }

  public func removeFromGroup(_ name: String, device: String) async throws -> API.Group {
    var request = HTTPClientRequest(url: "\(baseURL)/api/v1/groups/\(Self.escape(name))/devices/\(Self.escape(device))")
    request.method = .DELETE
    return try await send(request, as: API.Group.self)
  }

  public func deleteGroup(_ name: String) async throws {
    var request = HTTPClientRequest(url: "\(baseURL)/api/v1/groups/\(Self.escape(name))")
    request.method = .DELETE
    _ = try await send(request, as: Empty.self)
  }

  public func createDeployment(_ body: API.CreateDeployment) async throws -> API.Deployment {
    try await send(json: body, method: .POST, path: "/api/v1/deployments", as: API.Deployment.self)
  }

  public func deployment(_ id: String) async throws -> API.Deployment {
    try await get("/api/v1/deployments/\(Self.escape(id))", as: API.Deployment.self)
  }

  public func deployments() async throws -> [API.Deployment] {
    try await get("/api/v1/deployments", as: [API.Deployment].self)
  }

  /// Sets (nil: removes) a release's distribution policy.
  public func setReleasePolicy(package: String, version: String, policy: String?) async throws -> API.Release {
    struct Body: Encodable { var policy: String? }
    return try await send(
      json: Body(policy: policy), method: .PUT,
      path: "/api/v1/releases/\(Self.escape(package))/\(Self.escape(version))/policy", as: API.Release.self)
  }

  public func channels() async throws -> [API.Channel] {
    try await get("/api/v1/channels", as: [API.Channel].self)
  }

  /// Sets the rollout plan new versions of `package:tag` reach its followers with.
  public func setChannel(package: String, tag: String, rollout: RolloutPlan?) async throws -> API.Channel {
    struct Body: Encodable { var rollout: RolloutPlan? }
    return try await send(
      json: Body(rollout: rollout), method: .PUT,
      path: "/api/v1/channels/\(Self.escape(package))/\(Self.escape(tag))", as: API.Channel.self)
  }

  public func fleet() async throws -> API.FleetState {
    try await get("/api/v1/fleet", as: API.FleetState.self)
  }

  /// `action` is `freeze` (with a reason) or `thaw`.
  public func changeFleet(_ action: String, reason: String? = nil) async throws -> API.FleetState {
    struct Body: Encodable { var reason: String? }
    return try await send(
      json: Body(reason: reason), method: .POST, path: "/api/v1/fleet/\(action)", as: API.FleetState.self)
  }

  /// `action` is `pause`, `resume`, `promote`, `approve` or `abort`.
  public func changeDeployment(_ id: String, action: String, reason: String? = nil) async throws -> API.Deployment {
    struct Body: Encodable { var reason: String? }
    return try await send(
      json: Body(reason: reason), method: .POST, path: "/api/v1/deployments/\(Self.escape(id))/\(action)",
      as: API.Deployment.self)
  }

  /// Decodes an empty (204) body.
  struct Empty: Decodable {}

  func get<T: Decodable>(_ path: String, query: [String: String?] = [:], as type: T.Type) async throws -> T {
    try await get(path, queryItems: query.compactMap { key, value in value.map { (key, $0) } }, as: type)
  }

  func get<T: Decodable>(_ path: String, queryItems: [(String, String)], as type: T.Type) async throws -> T {
    let suffix = queryItems.isEmpty ? "" : "?" + FormQuery.encode(queryItems)
    return try await send(HTTPClientRequest(url: baseURL + path + suffix), as: type)
  }

  func send<T: Decodable>(json body: some Encodable, method: HTTPMethod, path: String, as type: T.Type)
    async throws -> T
  {
    var request = HTTPClientRequest(url: baseURL + path)
    request.method = method
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: Wire.encode(body)))
    return try await send(request, as: type)
  }

  private func authorized(_ request: HTTPClientRequest) -> HTTPClientRequest {
    guard let token else { return request }
    var request = request
    request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)")
    return request
  }

  func send<T: Decodable>(_ request: HTTPClientRequest, as type: T.Type) async throws -> T {
    let (status, body) = try await raw(request)
    if status == .noContent, let empty = Empty() as? T { return empty }
    do {
      return try Self.decoder.decode(T.self, from: Data(body.readableBytesView))
    } catch {
      throw ClientError.unexpectedResponse("\(error)")
    }
  }

  /// Sends a request and returns a 2xx answer's status and body; anything else is a `ClientError`.
  func raw(_ request: HTTPClientRequest) async throws -> (HTTPResponseStatus, ByteBuffer) {
    let response: HTTPClientResponse
    let body: ByteBuffer
    do {
      response = try await http.execute(authorized(request), timeout: .seconds(600))
      body = try await response.body.collect(upTo: 64 << 20)
    } catch {
      throw ClientError.unreachable(url: baseURL, reason: "\(error)")
    }
    guard (200..<300).contains(response.status.code) else {
      let error = (try? Self.decoder.decode(API.ErrorBody.self, from: Data(body.readableBytesView)))?.error
      throw ClientError.refused(
        status: Int(response.status.code), code: error?.code ?? "http_\(response.status.code)",
        message: error?.message ?? String(buffer: body))
    }
    return (response.status, body)
  }

  private static var decoder: JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return decoder
  }

  static func escape(_ segment: String) -> String { segment.urlPathSegment }
}
