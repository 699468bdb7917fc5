import Synchronization

/// Counters the controller keeps while it runs, served at `GET /metrics`
/// in the Prometheus text format.
public final class ControllerMetrics: Sendable {
  private let artifactBytes = Atomic<Int64>(0)
  private let artifactRequests = Atomic<Int64>(0)
  private let rangeRequests = Atomic<Int64>(0)

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

    """
  }
}
