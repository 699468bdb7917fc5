/// Exponential backoff with full jitter: the delay before retry `attempt`
/// (1-based) is a random point in [base·2^(attempt-1) / 2, base·2^(attempt-1)],
/// capped at `maximum`, so a fleet that failed together does not retry together.
public struct Backoff: Sendable, Equatable {
  public var base: Double
  public var maximum: Double
  /// Attempts in all (the first try included); after that the update fails.
  public var maxAttempts: Int

  public init(base: Double = 1, maximum: Double = 60, maxAttempts: Int = 5) {
    self.base = base
    self.maximum = maximum
    self.maxAttempts = maxAttempts
  }

  /// Seconds to wait before `attempt`; `random` is a number in [0, 1).
  public func delay(before attempt: Int, random: Double) -> Double {
    let exponent = min(max(attempt - 1, 0), 30)
    let ceiling = min(maximum, base * Double(1 << exponent))
    return ceiling / 2 + ceiling / 2 * min(max(random, 0), 1)
  }

  /// Whether another attempt may follow `attempt`.
  public func allowsRetry(after attempt: Int) -> Bool { attempt < maxAttempts }

  /// A delay as people read it: "4.2 s", "38 s".
  public static func describe(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "? s" }
    return seconds < 10 ? "\(Double(Int((seconds * 10).rounded())) / 10) s" : "\(Int(seconds.rounded())) s"
  }
}
