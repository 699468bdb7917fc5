/// A token bucket: `capacity` tokens, refilled at `refillPerSecond`; taking
/// more than is there is refused. Pure (the caller passes the time), so the
/// per-device rate limit is tested without a clock.
public struct TokenBucket: Sendable, Equatable {
  public let capacity: Double
  public let refillPerSecond: Double
  public private(set) var tokens: Double
  /// The time (seconds, any epoch) `tokens` was last brought up to date.
  public private(set) var updated: Double

  public init(capacity: Double, refillPerSecond: Double, now: Double) {
    self.capacity = max(capacity, 0)
    self.refillPerSecond = max(refillPerSecond, 0)
    tokens = self.capacity
    updated = now
  }

  /// Takes `cost` tokens when there are that many; false (and nothing taken) otherwise.
  public mutating func take(_ cost: Double, now: Double) -> Bool {
    refill(now)
    guard cost <= tokens else { return false }
    tokens -= cost
    return true
  }

  /// Whether it has refilled completely (an idle client: its entry can go).
  public func isFull(now: Double) -> Bool {
    var copy = self
    copy.refill(now)
    return copy.tokens >= capacity
  }

  private mutating func refill(_ now: Double) {
    guard now.isFinite, now > updated else { return }
    tokens = min(capacity, tokens + (now - updated) * refillPerSecond)
    updated = now
  }
}
