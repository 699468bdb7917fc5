import AirliftCore
import Foundation
import Hummingbird

/// Repositories, draft versions, tag lookups, and the repositories a device may read.
extension ControllerRoutes {
  /// `POST /api/v1/repositories` (an admin without a repository limit).
  @Sendable func createRepository(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.requireAdmin(context)
    let body = try await request.decode(as: API.CreateRepository.self, context: context)
    return try await Self.json(
      try store.createRepository(body, by: Self.operatorName(context)), status: .created, context: context)
  }

  /// `GET /api/v1/repositories`: those the caller may read.
  @Sendable func listRepositories(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(
      try store.repositories().filter { RepositoryAccess.mayRead(repository: $0.name, context) }, context: context)
  }

  @Sendable func showRepository(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let name = try context.pathParameter("repository")
    try RepositoryAccess.require(.reader, inRepository: name, context)
    return try await Self.json(try store.repository(name), context: context)
  }

  /// `DELETE /api/v1/repositories/{repository}`: only an empty one, never the default.
  @Sendable func deleteRepository(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.requireAdmin(context)
    try await store.deleteRepository(try context.pathParameter("repository"))
    return Response(status: .noContent)
  }

  /// `POST /api/v1/releases/{package}/{version}/assets`: one more asset for a draft version.
  @Sendable func addReleaseAsset(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = try Self.releaseRef(context)
    let asset = try await request.decode(as: API.AddAsset.self, context: context)
    try Names.validateDigest(asset.sha256)
    do { try Names.validateAssetName(asset.name) } catch {
      throw APIError(status: .badRequest, code: "invalid_asset_name", message: error.description)
    }
    return try await Self.json(try store.addAsset(ref, asset), status: .created, context: context)
  }

  /// `DELETE /api/v1/releases/{package}/{version}` (admins): a release no live deployment names and no device
  /// runs, with its tags, its finished deployments' records and the blobs only it held (their files too).
  @Sendable func deleteRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.requireAdmin(context)
    let deleted = try await store.deleteRelease(try Self.releaseRef(context))
    await store.removeUnlistedFiles(deleted.blobs, from: blobs, logger: context.logger)
    return try Self.json(deleted, context: context)
  }

  /// `POST /api/v1/releases/{package}/{version}/seal`: fixes a draft's assets.
  @Sendable func sealRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.sealRelease(try Self.releaseRef(context)), context: context)
  }

  /// `GET /api/v1/packages/{package}/tags/{tag}`: the version the tag names now.
  @Sendable func resolveTag(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let package = try context.pathParameter("package")
    let tag = try context.pathParameter("tag")
    let version = try await store.resolveTag(package: package, name: tag)
    return try Self.json(API.ResolvedTag(package: package, tag: tag, version: version), context: context)
  }

  /// `PUT /api/v1/devices/{id}/repositories`, body `{"repositories": [...]}` or `{"repositories": null}` (all).
  @Sendable func setDeviceRepositories(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable { var repositories: [String]? }
    let device = try DeviceID(try context.pathParameter("id"))
    let body = try await request.decode(as: Body.self, context: context)
    return try await Self.json(
      try store.setDeviceRepositories(device.rawValue, body.repositories), context: context)
  }

  static func requireAdmin(_ context: ControllerRequestContext) throws {
    guard case .operator(let name, let role) = context.identity, role != .admin else { return }
    throw APIError(
      status: .forbidden, code: "admin_only",
      message: "operator '\(name)' (\(role.rawValue)) cannot do this; an admin can")
  }

  /// Refuses a device a release of a repository it may not read.
  func requireDeviceAccess(_ device: DeviceID, to package: String) async throws {
    guard let allowed = try await store.deviceRepositories(device.rawValue) else { return }
    let repository = Names.repository(of: package)
    guard allowed.contains(repository) else {
      throw RepositoryError.deviceForbidden(device: device.rawValue, repository: repository)
    }
  }

  /// Refuses a limited device a blob that only releases of other repositories hold (one no release holds is
  /// left to the 404 that follows).
  func requireDeviceAccess(_ device: DeviceID, toBlob sha256: String) async throws {
    guard let allowed = try await store.deviceRepositories(device.rawValue) else { return }
    let holders = try await store.repositoriesHolding(blob: sha256)
    guard holders.isEmpty || !allowed.isDisjoint(with: holders) else {
      throw RepositoryError.deviceForbidden(
        device: device.rawValue, repository: holders.sorted().joined(separator: ", "))
    }
  }

  /// Refuses unless the caller has `needed` in the repository of the deployment `{id}`'s release.
  func requireDeployment(_ needed: API.Role, _ context: ControllerRequestContext) async throws {
    guard context.scope != nil else { return }
    let id = try context.pathParameter("id")
    guard let deployment = try await store.deployment(id: id) else { throw StoreError.deploymentNotFound(id) }
    try RepositoryAccess.require(needed, for: deployment.release.package, context)
  }
}
