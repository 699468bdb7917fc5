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
  /// Seconds a device certificate issued at enrollment or renewal is valid.
  var deviceCertificateLifetime = 825 * 86_400

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
    router.post("api/v1/device/certificate", use: renewCertificate)
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
    api.delete("releases/:package/:version", use: deleteRelease)
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
      fleet: try store.fleetSummary(), deployments: try store.deploymentCounts(), publishes: health.mqttPublishes,
      certificatesExpiring: try store.certificatesExpiring())
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
    let expiries = try await store.certificateExpiries()
    let devices = try await store.devices(filter).map { device in
      var device = device
      device.certificateExpires = expiries[device.id]
      return device
    }
    return try Self.json(devices, context: context)
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
    guard var detail = try await store.deviceDetail(id) else {
      throw APIError(status: .notFound, code: "device_not_found", message: "device '\(id)' has never checked in")
    }
    detail.device.certificateExpires = try await store.certificateExpiries()[id.rawValue]
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

  static func operatorName(_ context: ControllerRequestContext) throws -> String? {
    guard case .operator(let name, _) = context.identity else { return nil }
    return name
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
