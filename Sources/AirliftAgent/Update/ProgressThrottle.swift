/// Decides when a download's progress is worth reporting: when `interval`
/// seconds passed or the percent grew by `percentStep` since the last
/// report, and never for the same whole percent twice — a few reports a
/// second at most, never one per chunk.
struct ProgressThrottle: Sendable {
  let interval: Double
  let percentStep: Int
  private var lastTime: Double?
  private var lastPercent: Int?

  /// `percentStep` 0 reports by time only.
  init(interval: Double, percentStep: Int = 0) {
    self.interval = interval
    self.percentStep = percentStep
  }

  /// `now` in seconds on any monotonic clock. Completion (100%) always passes.
  mutating func shouldReport(now: Double, percent: Int) -> Bool {
    if percent == lastPercent { return false }
    let stepped = percentStep > 0 && percent - (lastPercent ?? 0) >= percentStep
    if percent < 100, !stepped, let lastTime, now - lastTime < interval { return false }
    lastTime = now
    lastPercent = percent
    return true
  }

  /// Whole percent of `done` out of `total` (0 when the total is unknown).
  static func percent(_ done: Int64, of total: Int64) -> Int {
    guard total > 0, done > 0 else { return 0 }
    let (scaled, overflow) = done.multipliedReportingOverflow(by: 100)
    return overflow ? 100 : Int(min(100, scaled / total))
  }
}
