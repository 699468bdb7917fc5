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

  /// Install handlers agents know; a release must name one of them.
  static let handlers: Set<String> = ["script", "directory", "ab-slot", "compose"]

  func build() throws -> Router<ControllerRequestContext> {
    let router = Router(context: ControllerRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: ErrorMappingMiddleware())
    router.add(
      middleware: IdentityMiddleware(operators: operators, readers: readers, revocations: revocations, store: store))
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
    api.get("packages/:package/tags", use: listTags)
    api.put("packages/:package/tags/:tag", use: setTag)
    api.get("devices", use: listDevices)
    api.get("devices/:id", use: showDevice)
    api.post("devices/:id/rollback", use: rollBackDevice)
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
      try store.checkWritable()
    } catch {
      problems.append("store: not writable: \(error)")
    }
    return Response(
      status: problems.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
      body: .init(byteBuffer: ByteBuffer(string: problems.isEmpty ? "ok\n" : problems.joined(separator: "\n") + "\n")))
  }

  /// `GET /metrics` (operators): the Prometheus text exposition.
  @Sendable func metricsExposition(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let snapshot = ControllerMetrics.Snapshot(
      fleet: try store.fleetSummary(), deployments: try store.deploymentCounts(), publishes: health.mqttPublishes)
    return Response(
      status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
      body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(snapshot))))
  }

  // MARK: Releases and tags

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
    try store.recordBlob(sha256: digest, size: size)
    return try Self.json(API.Blob(sha256: digest, size: size), status: .created, context: context)
  }

  /// `POST /api/v1/releases`: a version made of uploaded blobs.
  @Sendable func createRelease(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateRelease.self, context: context)
    try Names.validatePackage(body.package)
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
    let release = try store.addRelease(
      package: body.package, version: version, handler: body.handler, parameters: body.parameters,
      assets: body.assets, apps: body.apps)
    return try Self.json(release, status: .created, context: context)
  }

  /// A compose release's apps: valid names, each bundle one of the release's assets, no app twice.
  static func validateApps(_ body: API.CreateRelease) throws {
    guard let apps = body.apps, !apps.isEmpty else {
      if body.handler == "compose" {
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
    return try Self.json(try store.signRelease(ref, with: signed, by: Self.operatorName(context)), context: context)
  }

  /// `GET /api/v1/releases/{package}/{version}/manifest`: the signed manifest, for anyone to check.
  @Sendable func showManifest(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = try Self.releaseRef(context)
    guard try store.release(ref) != nil else { throw StoreError.releaseNotFound(ref) }
    guard let signed = try store.signedManifest(ref) else { throw StoreError.releaseUnsigned(ref) }
    return try Self.json(signed, context: context)
  }

  static func releaseRef(_ context: ControllerRequestContext) throws -> ReleaseRef {
    let package = try context.parameters.require("package")
    try Names.validatePackage(package)
    return ReleaseRef(
      package: package, version: try SemanticVersion(try context.parameters.require("version")).description)
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

  @Sendable func listTags(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.tags(package: try context.parameters.require("package")), context: context)
  }

  /// `PUT /api/v1/packages/{package}/tags/{tag}`: moves a floating tag
  /// atomically, or binds a locked one for good.
  @Sendable func setTag(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let package = try context.parameters.require("package")
    let name = try context.parameters.require("tag")
    try Names.validatePackage(package)
    try Names.validateTag(name)
    let body = try await request.decode(as: API.SetTag.self, context: context)
    let version = try SemanticVersion(body.version).description
    let tag = try store.setTag(package: package, name: name, version: version, locked: body.locked)
    // Devices that follow this tag as an update channel get the new version.
    _ = try await deployments.channelMoved(package: package, tag: name, to: version)
    return try Self.json(tag, context: context)
  }

  // MARK: Devices and groups

  /// `GET /api/v1/devices?group=G&app=A&version=<2.0.0&attr=k=v&online=true`
  @Sendable func listDevices(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let query = request.uri.queryParameters
    let filter = try Self.deviceFilter(
      group: query.get("group"), app: query.get("app"), version: query.get("version"),
      attributes: query.getAll("attr"), expression: query.get("where"), online: query.get("online"))
    return try Self.json(try store.devices(filter), context: context)
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
    let id = try DeviceID(try context.parameters.require("id"))
    guard let detail = try store.deviceDetail(id) else {
      throw APIError(status: .notFound, code: "device_not_found", message: "device '\(id)' has never checked in")
    }
    return try Self.json(detail, context: context)
  }

  @Sendable func rollBackDevice(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.parameters.require("id"))
    let body = try await request.decode(as: API.RollbackRequest.self, context: context)
    return try Self.json(try await deployments.rollBack(id, body), status: .accepted, context: context)
  }

  @Sendable func showCommand(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.parameters.require("id"))
    return try Self.json(try store.command(try context.parameters.require("command"), device: id), context: context)
  }

  @Sendable func listGroups(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.groups(), context: context)
  }

  @Sendable func createGroup(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable {
      var name: String
      var expression: String?
    }
    let body = try await request.decode(as: Body.self, context: context)
    try Names.validateTag(body.name)
    let expression = try body.expression.map { text throws(PolicyExpressionError) in try PolicyExpression(text) }
    return try Self.json(
      try store.createGroup(body.name, expression: expression), status: .created, context: context)
  }

  @Sendable func showGroup(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.group(try context.parameters.require("name")), context: context)
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
    return try Self.json(
      try store.setGroupWindow(try context.parameters.require("name"), window: window, timeZone: body.timeZone),
      context: context)
  }

  @Sendable func deleteGroup(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try store.deleteGroup(try context.parameters.require("name"))
    return Response(status: .noContent)
  }

  /// Adds devices; any that joins an active group deployment gets it.
  @Sendable func addGroupDevices(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.GroupMembers.self, context: context)
    let ids = try body.devices.map { try DeviceID($0) }
    let group = try store.addToGroup(try context.parameters.require("name"), devices: ids)
    for id in ids { deployments.deviceMayJoin(id) }
    return try Self.json(group, context: context)
  }

  @Sendable func removeGroupDevice(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.parameters.require("id"))
    return try Self.json(
      try store.removeFromGroup(try context.parameters.require("name"), devices: [id]), context: context)
  }

  // MARK: Deployments

  @Sendable func createDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateDeployment.self, context: context)
    return try Self.json(
      try await deployments.create(body, by: Self.operatorName(context)), status: .created, context: context)
  }

  @Sendable func listDeployments(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.deployments(), context: context)
  }

  @Sendable func showDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try context.parameters.require("id")
    guard let deployment = try store.deployment(id: id) else { throw StoreError.deploymentNotFound(id) }
    return try Self.json(deployment, context: context)
  }

  struct ReasonBody: Decodable { var reason: String? }

  @Sendable func pauseDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let reason = try? await request.decode(as: ReasonBody.self, context: context).reason
    return try Self.json(try deployments.pause(try context.parameters.require("id"), reason: reason), context: context)
  }

  @Sendable func resumeDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try deployments.resume(try context.parameters.require("id")), context: context)
  }

  @Sendable func approveDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let approver = try Self.operatorName(context) ?? ""
    return try Self.json(try deployments.approve(try context.parameters.require("id"), by: approver), context: context)
  }

  @Sendable func setReleasePolicy(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable { var policy: String? }
    let ref = try Self.releaseRef(context)
    let body = try await request.decode(as: Body.self, context: context)
    let policy = try body.policy.map { text throws(PolicyExpressionError) in try PolicyExpression(text) }
    return try Self.json(
      try deployments.setPolicy(ref, policy: policy, by: Self.operatorName(context)), context: context)
  }

  @Sendable func listChannels(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.channels(), context: context)
  }

  @Sendable func setChannel(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable { var rollout: RolloutPlan? }
    let package = try context.parameters.require("package")
    let tag = try context.parameters.require("tag")
    try Names.validatePackage(package)
    try Names.validateTag(tag)
    let body = try await request.decode(as: Body.self, context: context)
    if let plan = body.rollout { try DeploymentService.validate(plan) }
    return try Self.json(try store.setChannel(package: package, tag: tag, rollout: body.rollout), context: context)
  }

  @Sendable func fleetState(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try store.fleetState(), context: context)
  }

  @Sendable func freezeFleet(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let reason = (try? await request.decode(as: ReasonBody.self, context: context).reason) ?? nil
    let who = try Self.operatorName(context) ?? "an operator"
    return try Self.json(try deployments.freeze(reason: reason ?? "frozen by \(who)"), context: context)
  }

  @Sendable func thawFleet(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try deployments.thaw(), context: context)
  }

  static func operatorName(_ context: ControllerRequestContext) throws -> String? {
    guard case .operator(let name, _) = context.identity else { return nil }
    return name
  }

  @Sendable func promoteDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try Self.json(try deployments.promote(try context.parameters.require("id")), context: context)
  }

  @Sendable func abortDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let reason = try? await request.decode(as: ReasonBody.self, context: context).reason
    return try Self.json(try deployments.abort(try context.parameters.require("id"), reason: reason), context: context)
  }

  /// `GET /api/v1/device/deployment`: the calling device's desired
  /// deployment (identity from its certificate), or 204 when it has none.
  /// Which of the calling device's report numbers in (after, through] are
  /// stored, so it can send again what never arrived (a broker that lost a
  /// message, a controller that was not subscribed yet).
  @Sendable func ownStatusCursor(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.device(context)
    let query = request.uri.queryParameters
    guard let after = query.get("after").flatMap({ Int64($0) }),
      let through = query.get("through").flatMap({ Int64($0) }),
      after >= 0, through >= after, through - after <= 10000
    else {
      throw APIError(
        status: .badRequest, code: "invalid_request",
        message: "give after=A&through=B, whole numbers with 0 <= A <= B <= A + 10000")
    }
    return try Self.json(
      StoredSeqs(seqs: try store.storedStatusSeqs(device: device, after: after, through: through)), context: context)
  }

  /// Reports a device sends again over HTTPS; each is stored once, by its number.
  @Sendable func ownStatusReports(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.device(context)
    let buffer = try await request.body.collect(upTo: 4 << 20)
    let batch = try Wire.decode(StatusBatch.self, from: Array(buffer: buffer), topic: "POST /api/v1/device/status")
    let seqs = batch.reports.compactMap(\.seq)
    guard seqs.count == batch.reports.count, let low = seqs.min(), let high = seqs.max() else {
      throw APIError(
        status: .badRequest, code: "invalid_request", message: "send at least one report, each with its seq")
    }
    let unknown = try store.recordStatuses(batch.reports.map { (device, $0) })
    for (_, report) in unknown {
      context.logger.warning("status for unknown deployment '\(report.deployment)' from \(device); kept")
    }
    return try Self.json(
      StoredSeqs(seqs: try store.storedStatusSeqs(device: device, after: low - 1, through: high)), context: context)
  }

  private static func device(_ context: ControllerRequestContext) throws -> DeviceID {
    guard case .device(let device) = context.identity else {
      throw APIError(status: .forbidden, code: "forbidden", message: "only a device certificate can use /api/v1/device")
    }
    return device
  }

  @Sendable func ownDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    guard case .device(let device) = context.identity else {
      throw APIError(
        status: .forbidden, code: "forbidden", message: "only a device certificate can ask for its own deployment")
    }
    guard let notice = try deployments.notice(for: device) else { return Response(status: .noContent) }
    return Response(
      status: .ok, headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: Wire.encode(notice))))
  }

  // MARK: Artifacts

  /// `GET /artifacts/{sha256}` with `Range` support (206), streamed from disk.
  @Sendable func artifact(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    if case .enrollment = context.identity {
      throw APIError(status: .forbidden, code: "forbidden", message: "a bootstrap token may only enroll")
    }
    let digest = try context.parameters.require("sha256")
    try Names.validateDigest(digest)
    return try await serveBlob(digest, request: request, context: context)
  }

  /// A released blob, whole or the `Range` asked for (206), streamed from disk.
  func serveBlob(_ digest: String, request: Request, context: ControllerRequestContext) async throws -> Response {
    let path = blobs.path(sha256: digest)
    guard try store.blobIsReleased(sha256: digest),
      let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let size = (attributes[.size] as? NSNumber)?.int64Value
    else {
      throw APIError(status: .notFound, code: "not_found", message: "no released artifact with SHA-256 \(digest)")
    }
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
      metrics.artifactRequest(range: true)
      return Response(status: .partialContent, headers: headers, body: counted(body))
    }
    headers[.contentLength] = "\(size)"
    let body = try await FileIO().loadFile(path: path, context: context)
    metrics.artifactRequest(range: false)
    return Response(status: .ok, headers: headers, body: counted(body))
  }

  /// Counts the bytes of `body` as they are handed to the connection.
  private func counted(_ body: ResponseBody) -> ResponseBody {
    body.map { [metrics] buffer in
      metrics.sent(buffer.readableBytes)
      return buffer
    }
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
