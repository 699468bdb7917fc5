import AirliftCore
import Foundation
import Hummingbird

/// Metadata documents of versions: `PUT/GET /api/v1/releases/{package}/{version}/metadata/{name}`
/// for operators, `GET /api/v1/device/releases/…/metadata/{name}` for devices.
extension ControllerRoutes {
  @Sendable func attachMetadata(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = try Self.releaseRef(context)
    let name = try context.pathParameter("name")
    let body = try await request.body.collect(upTo: API.maxRequestBody)
    let document = Array(body.readableBytesView)
    let kind = try ReleaseMetadata.classify(name: name, document: document)
    let attached = try await store.attachMetadata(
      ref, name: name, document: document, kind: kind, by: Self.operatorName(context))
    return try Self.json(attached, status: .created, context: context)
  }

  @Sendable func showMetadata(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.metadataResponse(
      try store.metadata(try Self.releaseRef(context), name: try context.pathParameter("name")))
  }

  /// A device reads the documents of any version (as it may fetch any released artifact).
  @Sendable func deviceMetadata(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    guard case .device(let device) = context.identity else {
      throw APIError(
        status: .forbidden, code: "forbidden",
        message: "this route is for devices; operators use /api/v1/releases/{package}/{version}/metadata/{name}")
    }
    let ref = try Self.releaseRef(context)
    try await requireDeviceAccess(device, to: ref.package)
    return try await Self.metadataResponse(try store.metadata(ref, name: try context.pathParameter("name")))
  }

  private static func metadataResponse(_ document: [UInt8]) throws -> Response {
    Response(
      status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
  }
}
