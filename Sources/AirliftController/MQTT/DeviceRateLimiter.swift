import AirliftCore
import Foundation
import Synchronization

/// What one device may send the controller over MQTT: messages and bytes
/// per second, each with a burst. Past it, messages are dropped and counted
/// (`/metrics`); status reports dropped here reach the controller again by
/// the agent's HTTPS reconciliation, so a device that floods slows only
/// itself.
final class DeviceRateLimiter: Sendable {
  struct Limits: Sendable {
    var messagesPerSecond: Double
    var bytesPerSecond: Double
    /// Seconds of either rate a device may send at once.
    var burstSeconds: Double
  }

  let limits: Limits
  private let buckets = Mutex<[String: (messages: TokenBucket, bytes: TokenBucket)]>([:])

  init(_ limits: Limits) {
    self.limits = limits
  }

  /// Whether `device` may send a message of `bytes` now.
  func admit(_ device: String, bytes: Int, now: Double = ContinuousClock.seconds) -> Bool {
    buckets.withLock { buckets in
      var entry =
        buckets[device]
        ?? (
          TokenBucket(
            capacity: limits.messagesPerSecond * limits.burstSeconds, refillPerSecond: limits.messagesPerSecond,
            now: now),
          TokenBucket(
            capacity: limits.bytesPerSecond * limits.burstSeconds, refillPerSecond: limits.bytesPerSecond, now: now)
        )
      let allowed = entry.messages.take(1, now: now) && entry.bytes.take(Double(bytes), now: now)
      buckets[device] = entry
      // Devices that went quiet need no entry: a full bucket is what a new one starts with.
      if buckets.count > 10_000 { buckets = buckets.filter { !$0.value.messages.isFull(now: now) } }
      return allowed
    }
  }
}

extension ContinuousClock {
  /// Seconds since an arbitrary, fixed point: for rate arithmetic.
  static var seconds: Double {
    let elapsed = ContinuousClock.now - ContinuousClock.zero
    return elapsed.seconds
  }

  private static let zero = ContinuousClock.now
}
