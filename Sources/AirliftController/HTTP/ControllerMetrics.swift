import AirliftCore
import Foundation
import Prometheus
import Synchronization

/// What the controller counts while it runs, served at `GET /metrics` in the
/// Prometheus text format: status intake, MQTT publishes, HTTP requests,
/// artifact bytes, and, read at each scrape, the fleet, the deployments and
/// the process's memory and descriptors.
public final class ControllerMetrics: Sendable {
  private let registry = PrometheusCollectorRegistry()
  private let artifactBytes: Counter
  private let artifactRequests: Counter
  private let rangeRequests: Counter
  private let artifactRedirects: Counter
  private let received: [DeviceState: Counter]
  private let stored: [DeviceState: Counter]
  private let batches: Counter
  private let batchSize: ValueHistogram
  private let batchSeconds: DurationHistogram
  private let dropped: Counter
  private let rateLimited: Counter
  private let deviceEvents: Counter
  private let deviceEventsRefused: Counter
  private let statusPruned: Counter
  private let totals = Mutex(Totals())
  private let publishes: Counter
  private let publishFailures: Counter
  /// The MQTT client's totals at the last scrape (its counters grow by the difference).
  private let publishesSeen = Mutex<(attempted: Int64, failed: Int64)>((0, 0))
  /// The HTTPS listener's connection limits, read at each scrape.
  let connections = Mutex<ConnectionLimiter?>(nil)

  /// Plain totals for tests and benchmarks that read them in-process.
  private struct Totals {
    var artifactBytes: Int64 = 0
    var artifactRequests: Int64 = 0
    var rangeRequests: Int64 = 0
    var artifactRedirects: Int64 = 0
    var received: Int64 = 0
    var stored: Int64 = 0
  }

  public init() {
    artifactBytes = registry.makeCounter(
      descriptor: Self.metric("airlift_artifact_bytes_sent_total", "Artifact bytes sent to devices."))
    artifactRequests = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_artifact_requests_total", "Artifact requests, by whether they resumed with a Range."),
      labels: [("range", "false")])
    rangeRequests = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_artifact_requests_total", "Artifact requests, by whether they resumed with a Range."),
      labels: [("range", "true")])
    artifactRedirects = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_artifact_redirects_total", "Artifact requests sent on to the asset-link origin (assetLinks.updates)."))
    var received: [DeviceState: Counter] = [:]
    var stored: [DeviceState: Counter] = [:]
    for state in DeviceState.allCases {
      received[state] = registry.makeCounter(
        descriptor: Self.metric(
          "airlift_status_events_received_total", "Status events received over MQTT, by the state they report."),
        labels: [("state", state.rawValue)])
      stored[state] = registry.makeCounter(
        descriptor: Self.metric(
          "airlift_status_events_stored_total", "Status events written to the store, by the state they report."),
        labels: [("state", state.rawValue)])
    }
    self.received = received
    self.stored = stored
    batches = registry.makeCounter(
      descriptor: Self.metric("airlift_status_batches_total", "Transactions that wrote status events."))
    batchSize = registry.makeValueHistogram(
      descriptor: Self.metric("airlift_status_batch_size", "Status events per stored batch."),
      buckets: [1, 10, 50, 100, 500, 1000, 2000, 5000])
    batchSeconds = registry.makeDurationHistogram(
      descriptor: Self.metric("airlift_status_batch_seconds", "Time to write one batch of status events."),
      buckets: [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
        .milliseconds(500), .seconds(1), .seconds(5),
      ])
    publishes = registry.makeCounter(
      descriptor: Self.metric("airlift_mqtt_publishes_total", "MQTT publishes attempted."))
    publishFailures = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_mqtt_publish_errors_total", "MQTT publishes that failed (not connected, buffer full)."))
    dropped = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_device_messages_dropped_total", "Device messages dropped as malformed or misaddressed."))
    rateLimited = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_device_messages_rate_limited_total",
        "Device messages dropped because the device sent more than its rate limit."))
    deviceEvents = registry.makeCounter(
      descriptor: Self.metric("airlift_device_events_total", "Telemetry events from devices stored."))
    deviceEventsRefused = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_device_events_refused_total",
        "Telemetry events refused (malformed, too large, from a device the controller does not know)."))
    statusPruned = registry.makeCounter(
      descriptor: Self.metric(
        "airlift_status_events_pruned_total",
        "Status reports of finished deployments dropped after statusRetention.days (final states stay)."))
  }

  /// Artifact bytes handed to connections since the start (resumed
  /// downloads count only what was sent again).
  public var artifactBytesServed: Int64 { totals.withLock { $0.artifactBytes } }
  public var artifactRequestCount: Int64 { totals.withLock { $0.artifactRequests } }
  public var artifactRangeRequestCount: Int64 { totals.withLock { $0.rangeRequests } }
  /// Artifact requests answered with a link to the origin instead of bytes.
  public var artifactRedirectCount: Int64 { totals.withLock { $0.artifactRedirects } }
  /// Status events taken off MQTT and queued for the next batch.
  public var statusEventsReceived: Int64 { totals.withLock { $0.received } }
  /// Status events written to the store (each batch in one transaction).
  public var statusEventsStored: Int64 { totals.withLock { $0.stored } }

  func artifactRequest(range: Bool) {
    totals.withLock {
      $0.artifactRequests += 1
      if range { $0.rangeRequests += 1 }
    }
    (range ? rangeRequests : artifactRequests).increment()
  }

  func artifactRedirect() {
    totals.withLock { $0.artifactRedirects += 1 }
    artifactRedirects.increment()
  }

  func sent(_ bytes: Int) {
    totals.withLock { $0.artifactBytes += Int64(bytes) }
    artifactBytes.increment(by: Int64(bytes))
  }

  func statusReceived(_ state: DeviceState) {
    totals.withLock { $0.received += 1 }
    received[state]?.increment()
  }

  func statusBatchStored(_ states: [DeviceState], took duration: Duration) {
    totals.withLock { $0.stored += Int64(states.count) }
    var counts: [DeviceState: Int64] = [:]
    for state in states { counts[state, default: 0] += 1 }
    for (state, count) in counts { stored[state]?.increment(by: count) }
    batches.increment()
    batchSize.record(Double(states.count))
    batchSeconds.record(duration)
  }

  func deviceMessageDropped() { dropped.increment() }
  func deviceMessageRateLimited() { rateLimited.increment() }
  func deviceEventsStored(_ count: Int) { deviceEvents.increment(by: Int64(count)) }
  func deviceEventsRefused(_ count: Int) { deviceEventsRefused.increment(by: Int64(count)) }
  func statusEventsPruned(_ count: Int) { statusPruned.increment(by: Int64(count)) }

  /// Counts one HTTP request by its route pattern (not its path: ids would make a series each) and status.
  func httpRequest(route: String, method: String, status: Int) {
    registry.makeCounter(
      descriptor: Self.metric("airlift_http_requests_total", "HTTP requests, by route pattern, method and status."),
      labels: [("route", route), ("method", method), ("status", String(status))]
    ).increment()
  }

  /// Values read when scraped: they describe the state now, not events.
  struct Snapshot {
    var fleet: FleetSummary
    var deployments: [DeploymentStatus: Int]
    var publishes: (attempted: Int64, failed: Int64)
    /// Devices whose newest certificate expires within 30 days (expired ones included).
    var certificatesExpiring = 0
  }

  /// The Prometheus text exposition, with the gauges set from `snapshot` and the process.
  func exposition(_ snapshot: Snapshot) -> String {
    let fleet = snapshot.fleet
    gauge("airlift_devices_connected", "Devices connected to the broker now.").set(Double(fleet.online))
    for (state, count) in [
      ("online", fleet.online), ("offline", fleet.total - fleet.online), ("updating", fleet.updating),
      ("failed", fleet.failed),
    ] {
      gauge("airlift_devices", "Devices by state (online, offline, updating, failed).", [("state", state)])
        .set(Double(count))
    }
    for status in DeploymentStatus.allCases {
      gauge("airlift_deployments", "Deployments by status.", [("status", status.rawValue)])
        .set(Double(snapshot.deployments[status] ?? 0))
    }
    gauge(
      "airlift_device_certificates_expiring",
      "Devices whose newest certificate expires within 30 days or has expired (the agent renews its own)."
    )
    .set(Double(snapshot.certificatesExpiring))
    let (newPublishes, newFailures) = publishesSeen.withLock { seen in
      defer { seen = snapshot.publishes }
      return (snapshot.publishes.attempted - seen.attempted, snapshot.publishes.failed - seen.failed)
    }
    publishes.increment(by: max(0, newPublishes))
    publishFailures.increment(by: max(0, newFailures))
    if let limiter = connections.withLock({ $0 }) {
      let (open, refused) = limiter.snapshot
      gauge("airlift_https_connections", "HTTPS connections open now.").set(Double(open))
      gauge(
        "airlift_https_connections_refused", "HTTPS connections closed at once since the start: a limit was reached."
      ).set(Double(refused))
    }
    let process = ProcessStats.now()
    gauge("process_resident_memory_bytes", "Resident memory of the controller process.").set(
      Double(process.residentBytes))
    gauge("process_open_fds", "Open file descriptors of the controller process.").set(Double(process.openDescriptors))
    return registry.emitToString()
  }

  private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
    labels.isEmpty
      ? registry.makeGauge(descriptor: Self.metric(name, help))
      : registry.makeGauge(descriptor: Self.metric(name, help), labels: labels)
  }

  /// A metric named in full (`airlift_status_batches_total`) with its help text.
  private static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
  }
}

/// The process's own resource use, from /proc (Linux).
struct ProcessStats {
  var residentBytes: Int64
  var openDescriptors: Int

  static func now() -> ProcessStats {
    let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
    let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int64($0) } ?? 0
    let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    return ProcessStats(residentBytes: pages * Int64(sysconf(Int32(_SC_PAGESIZE))), openDescriptors: descriptors)
  }
}
