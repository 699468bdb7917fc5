import AirliftCore
import Foundation
import Hummingbird

/// Deployments, release policies, channels and the fleet freeze.
extension ControllerRoutes {
  // MARK: Deployments

  @Sendable func createDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateDeployment.self, context: context)
    try RepositoryAccess.require(.deployer, for: body.package, context)
    return try Self.json(
      try await deployments.create(body, by: Self.operatorName(context)), status: .created, context: context)
  }

  @Sendable func listDeployments(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(
      try store.deployments().filter { RepositoryAccess.mayRead($0.release.package, context) }, context: context)
  }

  @Sendable func showDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try context.pathParameter("id")
    guard let deployment = try await store.deployment(id: id) else { throw StoreError.deploymentNotFound(id) }
    try RepositoryAccess.require(.reader, for: deployment.release.package, context)
    return try Self.json(deployment, context: context)
  }

  struct ReasonBody: Decodable { var reason: String? }

  /// An optional JSON body: nil when the request has none, and a body that is there must be valid (a reason
  /// of the wrong type is a 400, not ignored).
  static func optionalBody<T: Decodable>(_ type: T.Type, _ request: Request, context: ControllerRequestContext)
    async throws -> T?
  {
    var request = request
    guard try await request.collectBody(upTo: context.maxUploadSize).readableBytes > 0 else { return nil }
    return try await request.decode(as: T.self, context: context)
  }

  /// The optional `{"reason": "..."}` of pause, abort, freeze and revoke, at most `Limits.reasonBytes`.
  static func reason(_ request: Request, context: ControllerRequestContext) async throws -> String? {
    let reason = try await optionalBody(ReasonBody.self, request, context: context)?.reason
    try Limits.check("reason (bytes)", reason?.utf8.count, in: Limits.reasonBytes)
    return reason
  }

  @Sendable func pauseDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await requireDeployment(.deployer, context)
    let reason = try await Self.reason(request, context: context)
    return try await Self.json(
      try deployments.pause(try context.pathParameter("id"), reason: reason), context: context)
  }

  @Sendable func resumeDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await requireDeployment(.deployer, context)
    return try await Self.json(try deployments.resume(try context.pathParameter("id")), context: context)
  }

  @Sendable func approveDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await requireDeployment(.deployer, context)
    let approver = try Self.operatorName(context) ?? ""
    return try await Self.json(
      try deployments.approve(try context.pathParameter("id"), by: approver), context: context)
  }

  @Sendable func setReleasePolicy(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    /// `policy` must be there: a string sets it, null removes it (an empty object removes nothing).
    struct Body: Decodable {
      var policy: String?
      private enum CodingKeys: String, CodingKey { case policy }
      init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.contains(.policy) else {
          throw APIError(
            status: .badRequest, code: "invalid_request",
            message: "give {\"policy\": \"EXPRESSION\"}, or {\"policy\": null} to remove it")
        }
        policy = try container.decodeIfPresent(String.self, forKey: .policy)
      }
    }
    let ref = try Self.releaseRef(context)
    let body = try await request.decode(as: Body.self, context: context)
    let policy = try body.policy.map { text throws(PolicyExpressionError) in try PolicyExpression(text) }
    return try await Self.json(
      try deployments.setPolicy(ref, policy: policy, by: Self.operatorName(context)), context: context)
  }

  @Sendable func listChannels(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(
      try store.channels().filter { RepositoryAccess.mayRead($0.package, context) }, context: context)
  }

  @Sendable func setChannel(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable { var rollout: RolloutPlan? }
    let package = try context.pathParameter("package")
    let tag = try context.pathParameter("tag")
    try Names.validatePackage(package)
    try Names.validateTag(tag)
    let body = try await request.decode(as: Body.self, context: context)
    try body.rollout?.validate()
    return try await Self.json(
      try store.setChannel(package: package, tag: tag, rollout: body.rollout), context: context)
  }

  @Sendable func fleetState(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.fleetState(), context: context)
  }

  @Sendable func freezeFleet(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let reason = try await Self.reason(request, context: context)
    let who = try Self.operatorName(context) ?? "an operator"
    return try await Self.json(try deployments.freeze(reason: reason ?? "frozen by \(who)"), context: context)
  }

  @Sendable func thawFleet(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try deployments.thaw(), context: context)
  }

  @Sendable func promoteDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await requireDeployment(.deployer, context)
    return try await Self.json(try deployments.promote(try context.pathParameter("id")), context: context)
  }

  @Sendable func abortDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await requireDeployment(.deployer, context)
    let reason = try await Self.reason(request, context: context)
    return try await Self.json(
      try deployments.abort(try context.pathParameter("id"), reason: reason), context: context)
  }
}
