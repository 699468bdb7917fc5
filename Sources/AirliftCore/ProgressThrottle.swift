/// Decides when a download's progress is worth reporting: at most once per
/// `interval` seconds, and never for the same whole percent twice, so a
/// report is sent a few times a second at most, never per chunk.
public struct ProgressThrottle: Sendable {
  public let interval: Double
  private var lastTime: Double?
  private var lastPercent: Int?

  public init(interval: Double) {
    self.interval = interval
  }

  /// `now` in seconds on any monotonic clock. Completion (100%) always passes.
  public mutating func shouldReport(now: Double, percent: Int) -> Bool {
    if percent == lastPercent { return false }
    if percent < 100, let lastTime, now - lastTime < interval { return false }
    lastTime = now
    lastPercent = percent
    return true
  }

  /// Whole percent of `done` out of `total` (0 when the total is unknown).
  public static func percent(_ done: Int64, of total: Int64) -> Int {
    guard total > 0 else { return 0 }
    return Int(min(100, done * 100 / total))
  }
}
