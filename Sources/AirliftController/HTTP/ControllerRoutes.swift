import AirliftCore
import AirliftCrypto
import Foundation
import Hummingbird
import NIOCore

/// The controller's HTTPS API: operator endpoints under `/api/v1`, the
/// device's own desired deployment, and artifacts by digest.
struct ControllerRoutes {
  let store: ControllerStore
  let blobs: BlobStore
  let deployments: DeploymentService
  let revocations: RevocationService
  let health: ControllerHealth
  let metrics: ControllerMetrics
  let operators: Set<String>
  let readers: Set<String>
  let maxArtifactSize: Int64
  let caFile: String
  let caKeyFile: String
  let links: AssetLinks
  let trustedProxies: Set<String>
  /// How many telemetry events each device keeps.
  var eventRetention = EventRetention()

  /// Install handlers agents know; a release must name one of them.
  static let handlers = HandlerName.all

  func build() throws -> Router<ControllerRequestContext> {
    let router = Router(context: ControllerRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: ErrorMappingMiddleware())
    let methods = RouteMethods()
    router.add(middleware: MethodNotAllowedMiddleware(routes: methods))
    router.add(
      middleware: IdentityMiddleware(
        operators: operators, readers: readers, revocations: revocations, store: store,
        trustedProxies: trustedProxies))
    router.get("healthz", use: healthz)
    router.get("readyz", use: readyz)
    DashboardRoutes(store: store, renderer: try DashboardRenderer()).add(to: router)

    router.get("artifacts/:sha256", use: artifact)
    router.post("enroll", use: enroll)
    router.get("enroll/:device", use: enrollmentStatus)
    router.get("api/v1/device/deployment", use: ownDeployment)
    router.get("api/v1/device/status", use: ownStatusCursor)
    router.post("api/v1/device/status", use: ownStatusReports)
    router.post("api/v1/device/checkin", use: pollingCheckIn)
    router.post("api/v1/device/command-result", use: pollingCommandResult)
    router.post("api/v1/device/events", use: ownDeviceEvents)
    router.get("api/v1/device/updates", use: ownAvailableUpdates)
    router.get("api/v1/device/releases/:package/:version/metadata/:name", use: deviceMetadata)
    router.get("api/v1/device/assets/:package/:tag/:asset/url", use: assetLink)
    router.get("links/:sha256/:name", use: linkedAsset)

    router.group("metrics").add(middleware: OperatorOnlyMiddleware()).get(use: metricsExposition)

    let api = router.group("api/v1").add(middleware: OperatorOnlyMiddleware(store: store))
    api.post("tokens", use: createToken)
    api.get("tokens", use: listTokens)
    api.delete("tokens/:name", use: revokeToken)
    api.get("audit", use: auditLog)
    api.post("enrollment-tokens", use: createEnrollmentToken)
    api.get("enrollments", use: listEnrollments)
    api.post("enrollments/:device/approve", use: approveEnrollment)
    api.post("enrollments/:device/reject", use: rejectEnrollment)
    api.post("blobs", use: uploadBlob)
    api.post("releases", use: createRelease)
    api.get("releases", use: listReleases)
    api.get("releases/:package/:version", use: showRelease)
    api.put("releases/:package/:version/policy", use: setReleasePolicy)
    api.put("releases/:package/:version/signature", use: signRelease)
    api.put("releases/:package/:version/metadata/:name", use: attachMetadata)
    api.get("releases/:package/:version/metadata/:name", use: showMetadata)
    api.post("devices/:id/revoke", use: revokeDevice)
    api.get("releases/:package/:version/manifest", use: showManifest)
    api.get("releases/:package/:version/estimate", use: estimateDelta)
    api.get("packages/:package/tags", use: listTags)
    api.get("packages/:package/tags/:tag", use: resolveTag)
    api.post("releases/:package/:version/assets", use: addReleaseAsset)
    api.post("releases/:package/:version/seal", use: sealRelease)
    api.get("repositories", use: listRepositories)
    api.post("repositories", use: createRepository)
    api.get("repositories/:repository", use: showRepository)
    api.delete("repositories/:repository", use: deleteRepository)
    api.put("devices/:id/repositories", use: setDeviceRepositories)
    api.put("packages/:package/tags/:tag", use: setTag)
    api.get("devices", use: listDevices)
    api.get("devices/:id", use: showDevice)
    api.post("devices/:id/rollback", use: rollBackDevice)
    api.get("devices/:id/properties", use: deviceProperties)
    api.get("devices/:id/events", use: deviceEvents)
    api.put("devices/:id/properties", use: setDeviceProperties)
    api.get("groups/:name/properties", use: groupProperties)
    api.put("groups/:name/properties", use: setGroupProperties)
    api.get("devices/:id/commands/:command", use: showCommand)
    api.get("groups", use: listGroups)
    api.post("groups", use: createGroup)
    api.get("groups/:name", use: showGroup)
    api.delete("groups/:name", use: deleteGroup)
    api.put("groups/:name/window", use: setGroupWindow)
    api.post("groups/:name/devices", use: addGroupDevices)
    api.delete("groups/:name/devices/:id", use: removeGroupDevice)
    api.post("deployments", use: createDeployment)
    api.get("deployments", use: listDeployments)
    api.get("deployments/:id", use: showDeployment)
    api.post("deployments/:id/pause", use: pauseDeployment)
    api.post("deployments/:id/resume", use: resumeDeployment)
    api.post("deployments/:id/abort", use: abortDeployment)
    api.post("deployments/:id/promote", use: promoteDeployment)
    api.post("deployments/:id/approve", use: approveDeployment)
    api.post("flows", use: createFlow)
    api.get("flows", use: listFlows)
    api.get("flows/:name", use: showFlow)
    api.delete("flows/:name", use: deleteFlow)
    api.post("flows/:name/deployments", use: launchFlow)
    api.get("channels", use: listChannels)
    api.put("channels/:package/:tag", use: setChannel)
    api.get("fleet", use: fleetState)
    api.post("fleet/freeze", use: freezeFleet)
    api.post("fleet/thaw", use: thawFleet)
    methods.record(router.routes)
    return router
  }

  /// `GET /healthz`: 200 while the process serves HTTP (for a service
  /// manager's liveness check).
  @Sendable func healthz(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
  }

  /// `GET /readyz`: 200 when the controller can do its work (its MQTT
  /// session subscribed and connected, its database writable), else 503
  /// with what is wrong, a line each (for a load balancer).
  @Sendable func readyz(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    var problems: [String] = []
    if !health.mqttSubscribed {
      problems.append("mqtt: not subscribed yet (connecting to the broker)")
    } else if !health.isBrokerConnected {
      problems.append("mqtt: connection to the broker lost; reconnecting")
    }
    do {
      try await store.checkWritable()
    } catch {
      problems.append("store: not writable: \(error)")
    }
    return Response(
      status: problems.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
      body: .init(byteBuffer: ByteBuffer(string: problems.isEmpty ? "ok\n" : problems.joined(separator: "\n") + "\n")))
  }

  /// `GET /metrics` (operators): the Prometheus text exposition.
  @Sendable func metricsExposition(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let snapshot = await ControllerMetrics.Snapshot(
      fleet: try store.fleetSummary(), deployments: try store.deploymentCounts(), publishes: health.mqttPublishes)
    return Response(
      status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
      body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(snapshot))))
  }

  // MARK: Devices and groups

  /// `GET /api/v1/devices?group=G&app=A&version=<2.0.0&attr=k=v&online=true`
  @Sendable func listDevices(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let query = request.formQuery
    if let group = query.get("group") { try Names.validateTag(group) }
    if let app = query.get("app") { try Names.validatePackage(app) }
    let filter = try Self.deviceFilter(
      group: query.get("group"), app: query.get("app"), version: query.get("version"),
      attributes: query.getAll("attr"), expression: query.get("where"), online: query.get("online"))
    return try await Self.json(try store.devices(filter), context: context)
  }

  /// The device filter a query asks for (the API's and the dashboard's), or a 400 saying what is wrong.
  static func deviceFilter(
    group: String?, app: String?, version: String?, attributes: [String], expression: String?, online: String?
  ) throws -> DeviceFilter {
    var filter = DeviceFilter(group: group, app: app)
    if let version {
      guard filter.app != nil else {
        throw APIError(status: .badRequest, code: "invalid_request", message: "a version filter needs app=PACKAGE")
      }
      filter.version = try VersionRequirement(version)
    }
    for pair in attributes {
      let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2 else {
        throw APIError(status: .badRequest, code: "invalid_request", message: "attr must be KEY=VALUE, got '\(pair)'")
      }
      filter.attributes[parts[0]] = parts[1]
    }
    if let expression { filter.expression = try PolicyExpression(expression) }
    if let online {
      guard let value = Bool(online) else {
        throw APIError(status: .badRequest, code: "invalid_request", message: "online must be true or false")
      }
      filter.online = value
    }
    return filter
  }

  @Sendable func showDevice(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.pathParameter("id"))
    guard let detail = try await store.deviceDetail(id) else {
      throw APIError(status: .notFound, code: "device_not_found", message: "device '\(id)' has never checked in")
    }
    return try Self.json(detail, context: context)
  }

  @Sendable func rollBackDevice(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.pathParameter("id"))
    let body = try await request.decode(as: API.RollbackRequest.self, context: context)
    try Limits.check("reason (bytes)", body.reason?.utf8.count, in: Limits.reasonBytes)
    return try Self.json(try await deployments.rollBack(id, body), status: .accepted, context: context)
  }

  @Sendable func showCommand(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.pathParameter("id"))
    return try await Self.json(
      try store.command(try context.pathParameter("command"), device: id), context: context)
  }

  @Sendable func listGroups(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.groups(), context: context)
  }

  @Sendable func createGroup(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable {
      var name: String
      var expression: String?
    }
    let body = try await request.decode(as: Body.self, context: context)
    try Names.validateTag(body.name)
    let expression = try body.expression.map { text throws(PolicyExpressionError) in try PolicyExpression(text) }
    return try await Self.json(
      try store.createGroup(body.name, expression: expression), status: .created, context: context)
  }

  @Sendable func showGroup(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.group(try context.pathParameter("name")), context: context)
  }

  @Sendable func setGroupWindow(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable {
      var window: String?
      var timeZone: String?
    }
    let body = try await request.decode(as: Body.self, context: context)
    let window: UpdateWindow?
    do throws(UpdateWindowError) {
      window = try body.window.map { text throws(UpdateWindowError) in try UpdateWindow(text) }
    } catch {
      throw APIError(status: .badRequest, code: "invalid_window", message: error.description + "\n" + error.pointer)
    }
    if let zone = body.timeZone, TimeZone(identifier: zone) == nil {
      throw APIError(status: .badRequest, code: "invalid_request", message: "unknown time zone '\(zone)'")
    }
    return try await Self.json(
      try store.setGroupWindow(try context.pathParameter("name"), window: window, timeZone: body.timeZone),
      context: context)
  }

  @Sendable func deleteGroup(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await store.deleteGroup(try context.pathParameter("name"))
    return Response(status: .noContent)
  }

  /// Adds devices; any that joins an active group deployment gets it.
  @Sendable func addGroupDevices(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.GroupMembers.self, context: context)
    try Limits.check("devices (how many)", body.devices.count, in: Limits.targetDevices, unit: "devices")
    let ids = try body.devices.map { try DeviceID($0) }
    let group = try await store.addToGroup(try context.pathParameter("name"), devices: ids)
    for id in ids { await deployments.deviceMayJoin(id) }
    await deployments.publishConfig(to: ids)
    return try Self.json(group, context: context)
  }

  @Sendable func removeGroupDevice(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.pathParameter("id"))
    let group = try await store.removeFromGroup(try context.pathParameter("name"), devices: [id])
    await deployments.publishConfig(to: [id])
    return try Self.json(group, context: context)
  }

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

  static func operatorName(_ context: ControllerRequestContext) throws -> String? {
    guard case .operator(let name, _) = context.identity else { return nil }
    return name
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
