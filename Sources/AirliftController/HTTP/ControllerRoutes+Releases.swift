import AirliftCore
import AirliftCrypto
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// Releases and tags: blobs, versions, signatures, manifests, tags.
extension ControllerRoutes {
  /// `POST /api/v1/blobs`, body = one asset, streamed to disk and hashed on
  /// the way; stored once by SHA-256 however often it is uploaded.
  @Sendable func uploadBlob(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared > maxArtifactSize {
      throw BlobTooLarge(limit: maxArtifactSize)
    }
    let (digest, size) = try await blobs.ingest(request.body.map { $0.readableBytesView }, limit: maxArtifactSize)
    guard size > 0 else {
      throw APIError(status: .badRequest, code: "empty_asset", message: "the uploaded asset is empty")
    }
    // The chunk index for delta updates (a second read of the file, from the page cache, off the serving threads).
    let index = size >= BlobStore.indexedMinimum ? try await blobs.index(sha256: digest) : nil
    try await store.recordBlob(sha256: digest, size: size, index: index?.index, pack: index?.pack)
    return try Self.json(API.Blob(sha256: digest, size: size), status: .created, context: context)
  }

  /// `POST /api/v1/releases`: a version made of uploaded blobs.
  @Sendable func createRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateRelease.self, context: context)
    try Names.validatePackage(body.package)
    try RepositoryAccess.require(.deployer, for: body.package, context)
    let version = try SemanticVersion(body.version)
    guard Self.handlers.contains(body.handler) else {
      throw APIError(
        status: .badRequest, code: "unknown_handler",
        message: "unknown install handler '\(body.handler)'; known: \(Self.handlers.sorted().joined(separator: ", "))")
    }
    guard !body.assets.isEmpty else {
      throw APIError(status: .badRequest, code: "no_assets", message: "a release needs at least one asset")
    }
    var names = Set<String>()
    for asset in body.assets {
      try Names.validateDigest(asset.sha256)
      do { try Names.validateAssetName(asset.name) } catch {
        throw APIError(status: .badRequest, code: "invalid_asset_name", message: error.description)
      }
      guard names.insert(asset.name).inserted else {
        throw APIError(
          status: .badRequest, code: "invalid_asset_name", message: "asset name '\(asset.name)' is given twice")
      }
    }
    for name in body.parameters.keys { try Names.validateParameter(name) }
    try Self.validateApps(body)
    try Self.validateCompatible(body.compatible ?? [])
    let release = try await store.addRelease(
      package: body.package, version: version, handler: body.handler, parameters: body.parameters,
      assets: body.assets, apps: body.apps, compatible: body.compatible)
    return try Self.json(release, status: .created, context: context)
  }

  /// The hardware names a release is for: each a tag-like name, none twice, at most ReleaseManifest.maxCompatible.
  static func validateCompatible(_ names: [String]) throws {
    func refuse(_ message: String) -> APIError {
      APIError(status: .badRequest, code: "invalid_compatible", message: message)
    }
    guard names.count <= ReleaseManifest.maxCompatible else {
      throw refuse("a release may name at most \(ReleaseManifest.maxCompatible) compatible devices, not \(names.count)")
    }
    for name in names {
      do { try Names.validateTag(name) } catch { throw refuse("compatible: \(error)") }
    }
    guard Set(names).count == names.count else { throw refuse("a compatible name is given twice") }
  }

  /// A compose release's apps: valid names, each bundle one of the release's assets, no app twice.
  static func validateApps(_ body: API.CreateRelease) throws {
    guard let apps = body.apps, !apps.isEmpty else {
      if body.handler == HandlerName.compose {
        throw APIError(
          status: .badRequest, code: "invalid_app",
          message: "a compose release must list its apps (--app NAME@VERSION=FILE)")
      }
      return
    }
    func refuse(_ message: String) -> APIError { APIError(status: .badRequest, code: "invalid_app", message: message) }
    let assets = Set(body.assets.map(\.name))
    var seen = Set<String>()
    for app in apps {
      do { try app.validate() } catch { throw refuse(error.description) }
      guard assets.contains(app.asset) else {
        throw refuse("app '\(app.name)' names asset '\(app.asset)', which the release does not have")
      }
      guard seen.insert(app.name).inserted else { throw refuse("app '\(app.name)' is given twice") }
    }
  }

  /// `PUT /api/v1/releases/{package}/{version}/signature`: the manifest an operator signed off the controller.
  @Sendable func signRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = try Self.releaseRef(context)
    let signed = try await request.decode(as: SignedManifest.self, context: context)
    return try await Self.json(
      try store.signRelease(ref, with: signed, by: Self.operatorName(context)), context: context)
  }

  /// `GET /api/v1/releases/{package}/{version}/manifest`: the signed manifest, for anyone to check.
  @Sendable func showManifest(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = try Self.releaseRef(context)
    guard try await store.release(ref) != nil else { throw StoreError.releaseNotFound(ref) }
    guard let signed = try await store.signedManifest(ref) else { throw StoreError.releaseUnsigned(ref) }
    return try Self.json(signed, context: context)
  }

  /// `GET /api/v1/releases/{package}/{version}/estimate?from=VERSION`: what a device on `from` would fetch to
  /// update to this version, worked out from the chunk indexes.
  @Sendable func estimateDelta(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let to = try Self.releaseRef(context)
    guard let fromText = request.formQuery.get("from") else {
      throw APIError(
        status: .badRequest, code: "missing_from", message: "say which version the device runs: ?from=VERSION")
    }
    let from = ReleaseRef(package: to.package, version: try SemanticVersion(fromText).description)
    guard let new = try await store.release(to) else { throw StoreError.releaseNotFound(to) }
    guard let old = try await store.release(from) else { throw StoreError.releaseNotFound(from) }
    let blobs = blobs
    let estimate = try await NIOThreadPool.singleton.runIfActive {
      DeltaEstimate.make(
        from: from, to: to,
        assets: new.assets.map {
          DeltaEstimate.NewAsset(
            name: $0.name, size: $0.size, index: $0.index.flatMap(blobs.chunkIndex), indexSize: $0.index?.size ?? 0)
        },
        earlier: old.assets.compactMap { $0.index.flatMap(blobs.chunkIndex) })
    }
    return try Self.json(estimate, context: context)
  }

  static func releaseRef(_ context: ControllerRequestContext) throws -> ReleaseRef {
    let package = try context.pathParameter("package")
    try Names.validatePackage(package)
    return ReleaseRef(
      package: package, version: try SemanticVersion(try context.pathParameter("version")).description)
  }

  @Sendable func listReleases(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let package = request.formQuery.get("package")
    if let package { try Names.validatePackage(package) }
    return try await Self.json(
      try store.releases(package: package).filter { RepositoryAccess.mayRead($0.package, context) },
      context: context)
  }

  @Sendable func showRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = ReleaseRef(
      package: try context.pathParameter("package"), version: try context.pathParameter("version"))
    guard let release = try await store.release(ref) else { throw StoreError.releaseNotFound(ref) }
    return try Self.json(release, context: context)
  }

  @Sendable func listTags(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.tags(package: try context.pathParameter("package")), context: context)
  }

  /// `PUT /api/v1/packages/{package}/tags/{tag}`: moves a floating tag
  /// atomically, or binds a locked one for good.
  @Sendable func setTag(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let package = try context.pathParameter("package")
    let name = try context.pathParameter("tag")
    try Names.validatePackage(package)
    try Names.validateTag(name)
    let body = try await request.decode(as: API.SetTag.self, context: context)
    let version = try SemanticVersion(body.version).description
    let tag = try await store.setTag(package: package, name: name, version: version, locked: body.locked)
    // Devices that follow this tag as an update channel get the new version.
    _ = try await deployments.channelMoved(package: package, tag: name, to: version)
    return try Self.json(tag, context: context)
  }
}
