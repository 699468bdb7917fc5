import AirliftCore
import AirliftCrypto
import Foundation
import Hummingbird

/// How the controller signs and checks asset links.
struct AssetLinks: Sendable {
  let signer: AssetLinkSigner
  /// The base URL links point at: the controller, or an origin that checks them itself.
  let origin: String
  /// Seconds a link lives.
  let ttl: Int
  /// Devices download update artifacts from the origin too (`assetLinks.updates`).
  var updates = false

  /// The path a link names: the blob by digest, then the asset's name (for `curl -O`).
  static func path(sha256: String, name: String) -> String {
    "/links/\(sha256)/\(name.urlPathSegment)"
  }

  /// A link to the blob `sha256` under `name`, valid for `ttl` seconds from now.
  func link(sha256: String, name: String) -> (url: String, expires: Int64) {
    let expires = Int64(Date().timeIntervalSince1970) + Int64(ttl)
    let path = Self.path(sha256: sha256, name: name)
    return ("\(origin)\(path)?md5=\(signer.token(path: path, expires: expires))&expires=\(expires)", expires)
  }
}

/// Asset links: a device asks for one (`airlift-agent asset-url PKG/TAG/ASSET`),
/// anyone holding it downloads that one asset until it expires.
extension ControllerRoutes {
  /// `GET /api/v1/device/assets/{package}/{tag}/{asset}/url` (a device certificate).
  @Sendable func assetLink(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    guard case .device(let device) = context.identity else {
      throw APIError(
        status: .forbidden, code: "forbidden", message: "asset links are for devices: use the device's certificate")
    }
    let package = try context.pathParameter("package")
    try await requireDeviceAccess(device, to: package)
    let tag = try context.pathParameter("tag")
    let name = try context.pathParameter("asset")
    let version = try await store.resolveTag(package: package, name: tag)
    let ref = ReleaseRef(package: package, version: version)
    guard let release = try await store.release(ref) else { throw StoreError.releaseNotFound(ref) }
    guard let asset = release.assets.first(where: { $0.name == name }) else {
      throw APIError(
        status: .notFound, code: "asset_not_found",
        message:
          "\(ref) (tag \(tag)) has no asset '\(name)'; it has \(release.assets.map(\.name).joined(separator: ", "))")
    }
    let (url, expires) = links.link(sha256: asset.sha256, name: asset.name)
    return try Self.json(
      API.AssetLink(
        url: url, package: package, tag: tag, version: version,
        asset: asset.name, sha256: asset.sha256, size: asset.size,
        expires: Date(timeIntervalSince1970: TimeInterval(expires))),
      context: context)
  }

  /// `GET /links/{sha256}/{name}?md5=…&expires=…` (no credentials: the link is the credential).
  @Sendable func linkedAsset(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let digest = try context.pathParameter("sha256")
    let query = request.formQuery
    let verdict = links.signer.check(
      path: request.uri.path, token: query.get("md5"), expires: query.get("expires"),
      now: Int64(Date().timeIntervalSince1970))
    switch verdict {
    case .invalid:
      throw APIError(
        status: .forbidden, code: "invalid_link",
        message: "this link is not valid for this path (md5 and expires must be as issued); ask for a new one")
    case .expired(let at):
      throw APIError(
        status: .gone, code: "link_expired",
        message:
          "this link expired at \(Date(timeIntervalSince1970: TimeInterval(at)).formatted(.iso8601)); ask for a new one (airlift-agent asset-url)"
      )
    case .valid:
      try Names.validateDigest(digest)
      return try await serveBlob(digest, request: request, context: context)
    }
  }
}
