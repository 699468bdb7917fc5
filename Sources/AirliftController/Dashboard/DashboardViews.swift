import AirliftCore
import Foundation

/// What every page's frame shows: title, navigation, who is logged in.
struct DashboardLayout {
  struct Who {
    var name: String
    var role: String
  }
  var title: String
  var page: String
  var who: Who?
  var inFleet: Bool { page == "fleet" || page == "device" }
  var inReleases: Bool { page == "releases" }
  var inDeployments: Bool { page == "deployments" || page == "deployment" }
}

/// A page to render: the frame and the page's own view.
struct DashboardPage {
  var layout: Layout
  var view: Any

  /// The frame, flattened to stored values (templates read stored properties only).
  struct Layout {
    var title: String
    var page: String
    var who: DashboardLayout.Who?
    var inFleet: Bool
    var inReleases: Bool
    var inDeployments: Bool
  }

  init(_ layout: DashboardLayout, view: Any) {
    self.layout = Layout(
      title: layout.title, page: layout.page, who: layout.who, inFleet: layout.inFleet,
      inReleases: layout.inReleases, inDeployments: layout.inDeployments)
    self.view = view
  }
}

/// Formats for people: times in UTC, sizes in binary units.
enum DashboardFormat {
  static func time(_ date: Date) -> String {
    var text = date.formatted(
      Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day().time(
        includingFractionalSeconds: false))
    if let t = text.firstIndex(of: "T") { text.replaceSubrange(t...t, with: " ") }
    return text.hasSuffix("Z") ? text : text + "Z"
  }

  static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

  static func bytes(_ count: Int64) -> String { ByteCount.text(count) }

  /// A colour class for a device state.
  static func stateClass(_ state: DeviceState) -> String {
    switch state {
    case .successful: return "ok"
    case .failed, .rolledBack: return "bad"
    case .pending: return "muted"
    default: return "busy"
    }
  }

  static func statusClass(_ status: DeploymentStatus) -> String {
    switch status {
    case .completed: return "ok"
    case .aborted: return "bad"
    case .paused, .scheduled: return "muted"
    case .active: return "busy"
    }
  }
}

/// A horizontal bar chart drawn as SVG on the server (no script, no library).
struct BarChart {
  struct Bar {
    var label: String
    var count: Int
    var y: Int
    var textY: Int
    var barX: Int
    var barWidth: Int
    var barHeight: Int
    var countX: Int
  }
  var id: String
  var caption: String
  var empty: Bool
  var width: Int
  var height: Int
  var bars: [Bar]

  static let rowHeight = 24
  static let labelWidth = 120
  static let barSpace = 200

  /// The biggest `limit` entries, largest first; the rest are summed as "other".
  init(id: String, caption: String, counts: [String: Int], limit: Int = 8) {
    var entries = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    if entries.count > limit {
      let rest = entries[(limit - 1)...].reduce(0) { $0 + $1.value }
      entries = Array(entries[..<(limit - 1)]) + [("other", rest)]
    }
    let top = max(entries.first?.value ?? 1, 1)
    self.id = id
    self.caption = caption
    empty = entries.isEmpty
    width = Self.labelWidth + Self.barSpace + 60
    height = max(entries.count, 1) * Self.rowHeight
    bars = entries.enumerated().map { index, entry in
      let label = entry.key.count > 18 ? String(entry.key.prefix(17)) + "…" : entry.key
      let barWidth = max(2, entry.value * Self.barSpace / top)
      return Bar(
        label: label, count: entry.value, y: index * Self.rowHeight + 3, textY: index * Self.rowHeight + 16,
        barX: Self.labelWidth, barWidth: barWidth, barHeight: Self.rowHeight - 8,
        countX: Self.labelWidth + barWidth + 6)
    }
  }
}

/// The live part of a deployment's page, rebuilt for each Server-Sent Event.
struct DeploymentView {
  struct Count {
    var state: String
    var count: Int
    var cls: String
  }
  /// A device's row. Optional fields have names no enclosing view uses:
  /// mustache looks a missing (nil) name up in the enclosing contexts, so a
  /// row without `percent` would show the deployment's.
  struct Row {
    var id: String
    var state: String
    var cls: String
    var downloadPercent: Int?
    /// Where the device is within its state: waiting for its phase, which try.
    var rowStage: String?
    var attempts: Int
    /// "1.2 MiB of 256 MiB": what its download fetched of the update's size.
    var rowFetched: String?
    var updated: String
    var failure: String?
  }
  struct Phase {
    var number: Int
    var size: Int
    var ended: Int
    var state: String
  }
  struct Phases { var items: [Phase] }

  var id: String
  var title: String
  var release: String
  var tag: String?
  var target: String
  var created: String
  var createdBy: String?
  /// "flow canary v2 with GREETING=hello" when a flow launched it.
  var launchedBy: String?
  var status: String
  var statusClass: String
  var finished: Bool
  var note: String?
  var reason: String?
  var phase: String?
  var phases: Phases?
  var total: Int
  var ended: Int
  var percent: Int
  var counts: [Count]
  /// What the devices' downloads cost together, and what a delta saved.
  var download: String?
  var devices: [Row]
  var hidden: Int?
  var canWrite: Bool
  var canPause: Bool
  var canResume: Bool
  var canPromote: Bool
  var canAbort: Bool
  var nextPhase: Int

  /// Devices shown in the table; the CLI lists all.
  static let shownDevices = 200

  init(_ deployment: API.Deployment, canWrite: Bool) {
    id = deployment.id
    title = deployment.name.map { "\($0) (\(deployment.id))" } ?? deployment.id
    release = "\(deployment.release.package)@\(deployment.release.version)"
    tag = deployment.tag
    target = Self.describe(deployment.target, devices: deployment.devices.count)
    created = DashboardFormat.time(deployment.createdAt)
    createdBy = deployment.createdBy
    launchedBy = deployment.flow.map { flow in
      let values = deployment.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
      return "flow \(flow)" + (values.isEmpty ? "" : " with " + values.joined(separator: " "))
    }
    status = deployment.status.rawValue
    statusClass = DashboardFormat.statusClass(deployment.status)
    finished = deployment.status == .completed || deployment.status == .aborted
    note = deployment.rollout?.note
    reason = deployment.reason
    total = deployment.devices.count
    ended = deployment.devices.filter { $0.state.isTerminal }.count
    percent = total == 0 ? 0 : ended * 100 / total
    var counts = deployment.counts
    // Pending devices whose phase has not started are counted apart, as the CLI shows them.
    let waiting = deployment.devices.filter { !$0.started && $0.state == .pending }.count
    counts[.pending] = (counts[.pending] ?? 0) - waiting
    self.counts =
      DeviceState.allCases.compactMap { state in
        guard let count = counts[state], count > 0 else { return nil }
        return Count(state: state.rawValue, count: count, cls: DashboardFormat.stateClass(state))
      } + (waiting > 0 ? [Count(state: "Waiting (phase)", count: waiting, cls: "muted")] : [])
    let sorted = deployment.devices.sorted { a, b in
      let (ra, rb) = (Self.rank(a.state), Self.rank(b.state))
      return ra != rb ? ra < rb : a.device < b.device
    }
    devices = sorted.prefix(Self.shownDevices).map {
      Row(
        id: $0.device,
        state: $0.nextAttempt.map { "Retrying (next \(DashboardFormat.time($0)))" } ?? $0.state.rawValue,
        cls: DashboardFormat.stateClass($0.state),
        downloadPercent: [.downloading, .installing].contains($0.state) ? $0.percent : nil, rowStage: Self.stage($0),
        attempts: $0.attempts,
        rowFetched: $0.transfer.map { "\(DashboardFormat.bytes($0.fetched)) of \(DashboardFormat.bytes($0.total))" },
        updated: DashboardFormat.time($0.updatedAt), failure: $0.error)
    }
    hidden = sorted.count > Self.shownDevices ? sorted.count - Self.shownDevices : nil
    download = TransferBytes.sum(deployment.devices.map(\.transfer))?.summary
    let live = deployment.status == .active || deployment.status == .paused
    self.canWrite = canWrite && (live || deployment.status == .scheduled)
    canPause = deployment.status == .active
    canResume = deployment.status == .paused
    canAbort = live || deployment.status == .scheduled
    if let rollout = deployment.rollout, rollout.plan.phases.count > 1 {
      let deviceCount = deployment.devices.count
      let sizes = rollout.plan.phases.map { $0.devices(of: deviceCount) }
      phase = "phase \(rollout.phase) of \(sizes.count)"
      // The API promotes only an Active deployment (resume a paused one first).
      canPromote = deployment.status == .active && rollout.plan.manualPromotion && rollout.phase < sizes.count
      nextPhase = rollout.phase + 1
      let endedCount = deployment.devices.filter { $0.state.isTerminal }.count
      var previous = 0
      var items: [Phase] = []
      for (index, cumulative) in sizes.enumerated() {
        let number = index + 1
        let size = max(0, cumulative - previous)
        let endedHere = min(size, max(0, endedCount - previous))
        let state = number < rollout.phase ? "done" : number == rollout.phase ? "current" : "waiting"
        items.append(Phase(number: number, size: size, ended: endedHere, state: state))
        previous = cumulative
      }
      phases = Phases(items: items)
    } else {
      phase = nil
      phases = nil
      canPromote = false
      nextPhase = 0
    }
  }

  /// The stage shown beside a device's state.
  static func stage(_ device: API.DeviceProgress) -> String? {
    if !device.started { return "waiting for its phase" }
    var parts: [String] = []
    if let from = device.fromVersion { parts.append("from \(from)") }
    if device.round > 1 { parts.append("try \(device.round)") }
    return parts.isEmpty ? nil : parts.joined(separator: ", ")
  }

  /// Failures first, then devices at work, then waiting ones, then the successful.
  static func rank(_ state: DeviceState) -> Int {
    switch state {
    case .failed, .rolledBack: return 0
    case .pending: return 2
    case .successful: return 3
    default: return 1
    }
  }

  /// The target in words; `devices` counts an explicit list (the stored
  /// target may not repeat it).
  static func describe(_ target: API.Target, devices: Int) -> String {
    if target.allDevices { return "every device" }
    if let group = target.group { return "group \(group)" }
    if let channel = target.channel { return "channel \(channel)" }
    if target.releasePolicy { return "the release's policy" }
    let count = target.devices?.count ?? devices
    return count == 1 ? "1 device" : "\(count) devices"
  }
}
