import Synchronization

/// Counters the controller keeps while it runs, served at `GET /metrics`
/// in the Prometheus text format.
public final class ControllerMetrics: Sendable {
  private let artifactBytes = Atomic<Int64>(0)
  private let artifactRequests = Atomic<Int64>(0)
  private let rangeRequests = Atomic<Int64>(0)
  private let statusesReceived = Atomic<Int64>(0)
  private let statusesStored = Atomic<Int64>(0)
  private let statusBatches = Atomic<Int64>(0)
  private let statusBatchSeconds = Mutex<Double>(0)
  private let deviceMessagesDropped = Atomic<Int64>(0)

  public init() {}

  /// Artifact bytes handed to connections since the start (resumed
  /// downloads count only what was sent again).
  public var artifactBytesServed: Int64 { artifactBytes.load(ordering: .relaxed) }
  public var artifactRequestCount: Int64 { artifactRequests.load(ordering: .relaxed) }
  public var artifactRangeRequestCount: Int64 { rangeRequests.load(ordering: .relaxed) }

  func artifactRequest(range: Bool) {
    artifactRequests.add(1, ordering: .relaxed)
    if range { rangeRequests.add(1, ordering: .relaxed) }
  }

  func sent(_ bytes: Int) { artifactBytes.add(Int64(bytes), ordering: .relaxed) }

  /// Status events taken off MQTT and queued for the next batch.
  public var statusEventsReceived: Int64 { statusesReceived.load(ordering: .relaxed) }
  /// Status events written to the store (each batch in one transaction).
  public var statusEventsStored: Int64 { statusesStored.load(ordering: .relaxed) }

  func statusReceived() { statusesReceived.add(1, ordering: .relaxed) }

  func statusBatchStored(events: Int, seconds: Double) {
    statusesStored.add(Int64(events), ordering: .relaxed)
    statusBatches.add(1, ordering: .relaxed)
    statusBatchSeconds.withLock { $0 += seconds }
  }

  func deviceMessageDropped() { deviceMessagesDropped.add(1, ordering: .relaxed) }

  /// The Prometheus text exposition of the counters.
  func exposition() -> String {
    """
    # HELP airlift_artifact_bytes_sent_total Artifact bytes sent to devices.
    # TYPE airlift_artifact_bytes_sent_total counter
    airlift_artifact_bytes_sent_total \(artifactBytesServed)
    # HELP airlift_artifact_requests_total Artifact requests, by whether they resumed with a Range.
    # TYPE airlift_artifact_requests_total counter
    airlift_artifact_requests_total{range="false"} \(artifactRequestCount - artifactRangeRequestCount)
    airlift_artifact_requests_total{range="true"} \(artifactRangeRequestCount)
    # HELP airlift_status_events_received_total Status events received over MQTT.
    # TYPE airlift_status_events_received_total counter
    airlift_status_events_received_total \(statusEventsReceived)
    # HELP airlift_status_events_stored_total Status events written to the store.
    # TYPE airlift_status_events_stored_total counter
    airlift_status_events_stored_total \(statusEventsStored)
    # HELP airlift_status_batches_total Transactions that wrote status events.
    # TYPE airlift_status_batches_total counter
    airlift_status_batches_total \(statusBatches.load(ordering: .relaxed))
    # HELP airlift_status_batch_seconds_total Time spent writing status batches.
    # TYPE airlift_status_batch_seconds_total counter
    airlift_status_batch_seconds_total \(statusBatchSeconds.withLock { $0 })
    # HELP airlift_device_messages_dropped_total Device messages dropped as malformed or misaddressed.
    # TYPE airlift_device_messages_dropped_total counter
    airlift_device_messages_dropped_total \(deviceMessagesDropped.load(ordering: .relaxed))

    """
  }
}
