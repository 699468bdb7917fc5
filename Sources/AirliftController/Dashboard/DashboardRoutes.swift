import AirliftCore
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The web dashboard under `/ui`, served by the controller on its HTTPS
/// port: pages rendered on the server from the store, a deployment page that
/// updates live over Server-Sent Events, and buttons that call the REST API.
struct DashboardRoutes {
  let store: ControllerStore
  let renderer: DashboardRenderer

  /// Devices per page of the fleet table.
  static let pageSize = 50
  /// How often a live deployment page is checked for changes.
  static let liveInterval = Duration.milliseconds(500)
  /// An event stream ends after this long; the browser reconnects by itself.
  static let liveStreamLimit = Duration.seconds(300)

  func add(to router: Router<ControllerRequestContext>) {
    router.get("ui") { _, _ in DashboardRenderer.redirect("/ui/fleet") }
    let ui = router.group("ui")
    ui.get("static/app.css") { _, _ in DashboardRenderer.asset(DashboardAssets.css, type: "text/css; charset=utf-8") }
    ui.get("static/app.js") { _, _ in
      DashboardRenderer.asset(DashboardAssets.js, type: "text/javascript; charset=utf-8")
    }
    ui.get("login", use: loginPage)
    ui.post("login", use: login)
    ui.post("logout", use: logout)
    let pages = ui.group().add(middleware: DashboardLoginRequired())
    pages.get("fleet", use: fleet)
    pages.get("devices/:id", use: device)
    pages.get("releases", use: releases)
    pages.get("releases/:package/:version/metadata/:name", use: releaseMetadata)
    pages.get("deployments", use: deploymentList)
    pages.get("deployments/:id", use: deployment)
    pages.get("deployments/:id/events", use: deploymentEvents)
  }

  func layout(_ title: String, page: String, context: ControllerRequestContext) -> DashboardLayout {
    guard case .operator(let name, let role) = context.identity else {
      return DashboardLayout(title: title, page: page)
    }
    let shown = name.hasPrefix("token:") ? String(name.dropFirst("token:".count)) : name
    return DashboardLayout(title: title, page: page, who: .init(name: shown, role: role.rawValue))
  }

  static func canWrite(_ context: ControllerRequestContext) -> Bool {
    guard case .operator(_, let role) = context.identity else { return false }
    return role != .reader
  }

  func notFound(_ what: String, context: ControllerRequestContext) -> Response {
    struct ErrorView {
      var heading: String
      var message: String
    }
    return renderer.page(
      "error", layout: layout("Not found", page: "error", context: context),
      view: ErrorView(heading: "Not found", message: what), status: .notFound)
  }

  // MARK: Fleet

  struct FleetQuery {
    var group = ""
    var app = ""
    var version = ""
    var attr = ""
    var online = ""
    var anyPresence: Bool { online.isEmpty }
    var onlineOnly: Bool { online == "true" }
    var offlineOnly: Bool { online == "false" }

    /// The query string of this filter at `page` (for shareable links).
    func link(page: Int) -> String {
      var items: [(String, String)] = [
        ("group", group), ("app", app), ("version", version), ("attr", attr), ("online", online),
      ].filter { !$0.1.isEmpty }
      if page > 1 { items.append(("page", String(page))) }
      let query = items.map {
        "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? "")"
      }
      return "/ui/fleet" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }
  }

  struct FleetView {
    struct Query {
      var group, app, version, attr: String
      var anyPresence, onlineOnly, offlineOnly: Bool
    }
    struct Row {
      var id: String
      var online: Bool
      var model: String
      var installed: String
      var lastSeen: String
      var lastSeenISO: String
    }
    var summary: FleetSummary
    var offline: Int
    var modelChart: BarChart
    var versionChart: BarChart
    var query: Query
    var filterError: String?
    /// "3 devices' certificates expire within 30 days": a warning above the fleet, nil when none do.
    var certificateWarning: String?
    var matching: Int
    var pageNumber: Int
    var pageCount: Int
    var rows: [Row]
    var prevLink: String?
    var nextLink: String?
  }

  @Sendable func fleet(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let parameters = request.formQuery
    let query = FleetQuery(
      group: parameters.get("group") ?? "", app: parameters.get("app") ?? "",
      version: parameters.get("version") ?? "", attr: parameters.get("attr") ?? "",
      online: parameters.get("online") ?? "")
    let requestedPage = max(1, parameters.get("page").flatMap { Int($0) } ?? 1)
    var devices: [API.Device] = []
    var filterError: String?
    do {
      func value(_ text: String) -> String? { text.isEmpty ? nil : text }
      let filter = try await ControllerRoutes.deviceFilter(
        group: value(query.group), app: value(query.app), version: value(query.version),
        attributes: query.attr.isEmpty ? [] : [query.attr], expression: nil, online: value(query.online))
      devices = try await store.devices(filter)
    } catch {
      filterError = ErrorMappingMiddleware.map(error, logger: context.logger).message
    }
    let summary = try await store.fleetSummary()
    let expiring = try await store.certificatesExpiring()
    let pageCount = max(1, (devices.count + Self.pageSize - 1) / Self.pageSize)
    let page = min(requestedPage, pageCount)
    let shown = devices.dropFirst((page - 1) * Self.pageSize).prefix(Self.pageSize)
    // The version chart shows the filtered app, else the package installed on most devices.
    let package =
      query.app.isEmpty
      ? summary.versions.max { $0.value.values.reduce(0, +) < $1.value.values.reduce(0, +) }?.key : query.app
    let view = FleetView(
      summary: summary, offline: summary.total - summary.online,
      modelChart: BarChart(id: "chart-model", caption: "Devices by model", counts: summary.models),
      versionChart: BarChart(
        id: "chart-version", caption: package.map { "Installed versions of \($0)" } ?? "Installed versions",
        counts: package.flatMap { summary.versions[$0] } ?? [:]),
      query: .init(
        group: query.group, app: query.app, version: query.version, attr: query.attr, anyPresence: query.anyPresence,
        onlineOnly: query.onlineOnly, offlineOnly: query.offlineOnly),
      filterError: filterError,
      certificateWarning: expiring == 0
        ? nil
        : "\(expiring) device certificate(s) expire within 30 days or have expired (airlift device list, CERT EXPIRES); an agent renews its own at renewCertificateAt of its lifetime, so a device long away may not have",
      matching: devices.count, pageNumber: page, pageCount: pageCount,
      rows: shown.map { device in
        FleetView.Row(
          id: device.id, online: device.online, model: device.attributes["model"] ?? "",
          installed: device.installed.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(
            separator: ", "),
          lastSeen: DashboardFormat.time(device.lastSeen), lastSeenISO: DashboardFormat.iso(device.lastSeen))
      },
      prevLink: page > 1 ? query.link(page: page - 1) : nil,
      nextLink: page < pageCount ? query.link(page: page + 1) : nil)
    return renderer.page(
      "fleet", layout: layout("Fleet", page: "fleet", context: context), view: view,
      status: filterError == nil ? .ok : .badRequest)
  }

  // MARK: Device

  struct DeviceView {
    struct Pair {
      var key: String
      var value: String
    }
    struct Presence {
      var online: Bool
      var at: String
    }
    // Optional fields have names no enclosing view uses: mustache looks a
    // nil name up in the enclosing contexts (an event without an error would
    // show its deployment's).
    struct Event {
      var time: String
      var state: String
      var eventStage: String?
      var progress: String
      var attempt: String
      var eventError: String?
    }
    struct Deployment {
      var deployment: String
      var release: String
      var state: String
      var stateClass: String
      var deploymentError: String?
      var open: Bool
      var events: [Event]
    }
    var id: String
    var online: Bool
    var firstSeen: String
    var lastSeen: String
    var agentVersion: String?
    /// "MQTT", or "HTTPS polling" with when it said it would check in again.
    var transport: String?
    var groups: String?
    var revoked: String?
    /// What its agent said keeps it from working (a full data disk).
    /// The hardware it said it is (agent config `compatible`).
    var compatible: String?
    var problems: [String]
    var attributes: [Pair]
    var apps: [Pair]
    var presence: [Presence]
    var history: [Deployment]
  }

  /// Deployments shown with their events on a device's page.
  static let deviceHistoryShown = 20

  @Sendable func device(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let raw = try context.pathParameter("id")
    guard let id = try? DeviceID(raw), let detail = try await store.deviceDetail(id) else {
      return notFound("No device '\(raw)' has checked in.", context: context)
    }
    let device = detail.device
    let shown = Array(detail.history.prefix(Self.deviceHistoryShown))
    let events = try await store.statusEvents(device: id, deployments: shown.map(\.deployment))
    let history = shown.enumerated().map { index, entry in
      DeviceView.Deployment(
        deployment: entry.deployment, release: "\(entry.release.package)@\(entry.release.version)",
        state: entry.state.rawValue, stateClass: DashboardFormat.stateClass(entry.state),
        deploymentError: entry.error,
        open: index == 0,
        events: (events[entry.deployment] ?? []).map { event in
          DeviceView.Event(
            time: DashboardFormat.time(event.time), state: event.state.rawValue, eventStage: event.stage,
            progress: event.percent.map { "\($0) %" }
              ?? event.bytes.map {
                DashboardFormat.bytes($0) + (event.total.map { " of " + DashboardFormat.bytes($0) } ?? "")
              }
              ?? "",
            attempt: event.attempt.map(String.init) ?? "", eventError: event.error)
        })
    }
    let view = DeviceView(
      id: device.id, online: device.online, firstSeen: DashboardFormat.time(device.firstSeen),
      lastSeen: DashboardFormat.time(device.lastSeen), agentVersion: device.agentVersion,
      transport: device.transport.map { transport in
        switch transport {
        case .mqtt: return "MQTT"
        case .https:
          return "HTTPS polling" + (device.nextCheckIn.map { ", next check-in by " + DashboardFormat.time($0) } ?? "")
        }
      },
      groups: detail.groups.isEmpty ? nil : detail.groups.joined(separator: ", "),
      revoked: device.revokedAt.map(DashboardFormat.time),
      compatible: device.compatible,
      problems: device.problems ?? [],
      attributes: device.attributes.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: $0.value) },
      apps: device.installed.sorted { $0.key < $1.key }.map { name, version in
        // A compose app also says whether it runs, and why not.
        guard let app = device.apps?.first(where: { $0.name == name }) else { return .init(key: name, value: version) }
        return .init(
          key: name, value: "\(version) · \(app.state.rawValue)" + (app.reason.map { " (\($0))" } ?? ""))
      },
      presence: try await store.presenceHistory(id).map { .init(online: $0.online, at: DashboardFormat.time($0.at)) },
      history: history)
    return renderer.page("device", layout: layout(device.id, page: "device", context: context), view: view)
  }

  // MARK: Deployments

  struct DeploymentListView {
    struct Row {
      var id: String
      var title: String
      var release: String
      var status: String
      var statusClass: String
      var total: Int
      var ended: Int
      var failed: Int
      var created: String
    }
    var rows: [Row]
  }

  /// Deployments listed, newest first.
  static let deploymentsShown = 200

  @Sendable func deploymentList(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let rows = try await store.deployments().sorted { $0.createdAt > $1.createdAt }.prefix(Self.deploymentsShown).map {
      deployment in
      let counts = deployment.counts
      return DeploymentListView.Row(
        id: deployment.id, title: deployment.name ?? deployment.id,
        release: "\(deployment.release.package)@\(deployment.release.version)", status: deployment.status.rawValue,
        statusClass: DashboardFormat.statusClass(deployment.status), total: deployment.devices.count,
        ended: deployment.devices.filter { $0.state.isTerminal }.count,
        failed: (counts[.failed] ?? 0) + (counts[.rolledBack] ?? 0), created: DashboardFormat.time(deployment.createdAt)
      )
    }
    return renderer.page(
      "deployments", layout: layout("Deployments", page: "deployments", context: context),
      view: DeploymentListView(rows: Array(rows)))
  }

  @Sendable func deployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try context.pathParameter("id")
    guard let deployment = try await store.deployment(id: id) else {
      return notFound("No deployment '\(id)'.", context: context)
    }
    let view = DeploymentView(deployment, canWrite: Self.canWrite(context))
    return renderer.page("deployment", layout: layout(view.title, page: "deployment", context: context), view: view)
  }

  /// `GET /ui/deployments/:id/events`: Server-Sent Events, an `update` with
  /// the live part of the page whenever it changes (checked twice a second),
  /// a comment every 15 s to keep proxies from closing the stream.
  @Sendable func deploymentEvents(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try context.pathParameter("id")
    guard try await store.deployment(id: id) != nil else { return notFound("No deployment '\(id)'.", context: context) }
    let canWrite = Self.canWrite(context)
    let (store, renderer) = (self.store, self.renderer)
    var headers = DashboardRenderer.securityHeaders
    headers[.contentType] = "text/event-stream"
    return Response(
      status: .ok, headers: headers,
      body: ResponseBody { writer in
        try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
        let clock = ContinuousClock()
        let start = clock.now
        var lastSent = ""
        var lastWrite = start
        while !Task.isCancelled && !Task.isShuttingDownGracefully && clock.now - start < Self.liveStreamLimit {
          guard let deployment = try await store.deployment(id: id) else { break }
          let view = DeploymentView(deployment, canWrite: canWrite)
          let fragment = renderer.render("deployment-live", view)
          if fragment != lastSent {
            try await writer.write(ByteBuffer(string: Self.event("update", data: fragment)))
            lastSent = fragment
            lastWrite = clock.now
            if view.finished { break }
          } else if clock.now - lastWrite > .seconds(15) {
            try await writer.write(ByteBuffer(string: ": still here\n\n"))
            lastWrite = clock.now
          }
          try await Task.sleep(for: Self.liveInterval)
        }
        try await writer.finish(nil)
      })
  }

  /// One Server-Sent Event; each line of `data` gets its own `data:` field.
  static func event(_ name: String, data: String) -> String {
    var text = "event: \(name)\n"
    for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
      text += "data: \(line.replacingOccurrences(of: "\r", with: ""))\n"
    }
    return text + "\n"
  }
}
