import AirliftCore
import Foundation
import Hummingbird
import NIOCore

/// The controller's HTTPS API: operator endpoints under `/api/v1`, the
/// device's own desired deployment, and artifacts by digest.
struct ControllerRoutes {
  let store: ControllerStore
  let blobs: BlobStore
  let deployments: DeploymentService
  let health: ControllerHealth
  let operators: Set<String>

  func build() -> Router<ControllerRequestContext> {
    let router = Router(context: ControllerRequestContext.self)
    router.add(middleware: ErrorMappingMiddleware())
    router.add(middleware: IdentityMiddleware(operators: operators))
    router.get("healthz", use: healthz)

    router.get("artifacts/:sha256", use: artifact)
    router.get("api/v1/device/deployment", use: ownDeployment)

    let api = router.group("api/v1").add(middleware: OperatorOnlyMiddleware())
    api.post("releases/:package/:version", use: uploadRelease)
    api.get("releases", use: listReleases)
    api.get("releases/:package/:version", use: showRelease)
    api.get("devices", use: listDevices)
    api.get("devices/:id", use: showDevice)
    api.post("deployments", use: createDeployment)
    api.get("deployments", use: listDeployments)
    api.get("deployments/:id", use: showDeployment)
    return router
  }

  /// `GET /healthz`: 200 once the controller takes device messages, 503 before.
  @Sendable func healthz(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ready = health.mqttSubscribed
    return Response(
      status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
      body: .init(byteBuffer: ByteBuffer(string: ready ? "ok\n" : "mqtt: connecting to the broker\n")))
  }

  // MARK: Releases

  /// `POST /api/v1/releases/{package}/{version}?handler=script&name=FILE`,
  /// body = the artifact, streamed to disk and hashed on the way.
  @Sendable func uploadRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let package = try context.parameters.require("package")
    let version = try context.parameters.require("version")
    try Names.validatePackage(package)
    let semver = try SemanticVersion(version)
    let handler = request.uri.queryParameters.get("handler") ?? "script"
    let name = request.uri.queryParameters.get("name") ?? "\(package)-\(semver).bundle"
    guard ["script"].contains(handler) else {
      throw HTTPError(.badRequest, message: "unknown install handler '\(handler)'; this controller knows: script")
    }
    guard !name.isEmpty, !name.contains("/"), name != "..", name != "." else {
      throw HTTPError(.badRequest, message: "invalid asset name '\(name)'")
    }
    if try store.release(ReleaseRef(package: package, version: semver.description)) != nil {
      throw StoreError.releaseExists(ReleaseRef(package: package, version: semver.description))
    }
    let (digest, size) = try await blobs.ingest(request.body.map { $0.readableBytesView })
    guard size > 0 else { throw HTTPError(.badRequest, message: "the uploaded artifact is empty") }
    let release = try store.addRelease(
      package: package, version: semver, handler: handler,
      assets: [API.Asset(name: name, size: size, sha256: digest)])
    return try Self.json(release, status: .created, context: context)
  }

  @Sendable func listReleases(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.releases(package: request.uri.queryParameters.get("package")), context: context)
  }

  @Sendable func showRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = ReleaseRef(
      package: try context.parameters.require("package"), version: try context.parameters.require("version"))
    guard let release = try store.release(ref) else { throw StoreError.releaseNotFound(ref) }
    return try Self.json(release, context: context)
  }

  // MARK: Devices and deployments

  @Sendable func listDevices(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.devices(), context: context)
  }

  @Sendable func showDevice(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.parameters.require("id"))
    guard let device = try store.device(id) else {
      throw HTTPError(.notFound, message: "device '\(id)' has never checked in")
    }
    return try Self.json(device, context: context)
  }

  @Sendable func createDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateDeployment.self, context: context)
    return try Self.json(try await deployments.create(body), status: .created, context: context)
  }

  @Sendable func listDeployments(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.deployments(), context: context)
  }

  @Sendable func showDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try context.parameters.require("id")
    guard let deployment = try store.deployment(id: id) else { throw StoreError.deploymentNotFound(id) }
    return try Self.json(deployment, context: context)
  }

  /// `GET /api/v1/device/deployment`: the calling device's desired
  /// deployment (identity from its certificate), or 204 when it has none.
  @Sendable func ownDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    guard case .device(let device) = context.identity else {
      throw HTTPError(.forbidden, message: "only a device certificate can ask for its own deployment")
    }
    guard let notice = try deployments.notice(for: device) else { return Response(status: .noContent) }
    return Response(
      status: .ok, headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: Wire.encode(notice))))
  }

  // MARK: Artifacts

  /// `GET /artifacts/{sha256}` with `Range` support (206), streamed from disk.
  @Sendable func artifact(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let digest = try context.parameters.require("sha256")
    try Names.validateDigest(digest)
    let path = blobs.path(sha256: digest)
    guard try store.blobExists(sha256: digest),
      let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let size = (attributes[.size] as? NSNumber)?.int64Value
    else { throw HTTPError(.notFound, message: "no artifact with SHA-256 \(digest)") }
    var headers: HTTPFields = [.acceptRanges: "bytes", .contentType: "application/octet-stream"]
    if let rangeHeader = request.headers[.range] {
      let range: ClosedRange<Int64>
      do {
        range = try ByteRange.parse(rangeHeader, size: size)
      } catch {
        headers[.contentRange] = "bytes */\(size)"
        return Response(status: .rangeNotSatisfiable, headers: headers)
      }
      headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
      headers[.contentLength] = "\(range.count)"
      let body = try await FileIO().loadFile(
        path: path, range: Int(range.lowerBound)...Int(range.upperBound), context: context)
      return Response(status: .partialContent, headers: headers, body: body)
    }
    headers[.contentLength] = "\(size)"
    let body = try await FileIO().loadFile(path: path, context: context)
    return Response(status: .ok, headers: headers, body: body)
  }

  static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, context: ControllerRequestContext)
    throws -> Response
  {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    return Response(
      status: status, headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
  }
}
