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

extension Duration {
  /// The duration in seconds, fractions included (for logs and arithmetic with `Double` seconds).
  public var seconds: Double {
    Double(components.seconds) + Double(components.attoseconds) / 1e18
  }
}

/// Numbers in [0, 1) for jitter: the system's generator, or a fixed sequence in tests.
public struct Jitter: Sendable {
  private let draw: @Sendable () -> Double

  public init(_ draw: @escaping @Sendable () -> Double) { self.draw = draw }

  /// The system's random numbers: a fleet that failed together spreads its retries.
  public static let system = Jitter { Double.random(in: 0..<1) }
  /// Always the top of the range: the waits a test can count exactly.
  public static let none = Jitter { 1 }

  public func callAsFunction() -> Double { draw() }
}

/// The waits of one retry loop: each failure one step further into `backoff` (doubling, capped, jittered); a
/// success starts it over.
public struct RetryDelays: Sendable {
  public let backoff: Backoff
  public let jitter: Jitter
  /// Failures since the last success.
  public private(set) var failures = 0

  public init(_ backoff: Backoff, jitter: Jitter = .system) {
    self.backoff = backoff
    self.jitter = jitter
  }

  /// Counts one more failure; the wait before the next try.
  public mutating func afterFailure() -> Duration {
    failures = min(failures + 1, 1_000)
    return .seconds(backoff.delay(before: failures, random: jitter()))
  }

  /// After a success: the next failure waits the shortest delay again.
  public mutating func reset() { failures = 0 }
}

/// Runs `operation` until it succeeds, sleeping on `clock` for the next of `delays` after each failure and
/// telling `failed` the error and the wait. Cancelling the caller ends it (CancellationError).
public func retrying<T>(
  _ delays: RetryDelays, clock: any Clock<Duration> = ContinuousClock(),
  failed: (any Error, Duration) -> Void = { _, _ in }, _ operation: () async throws -> T
) async throws -> T {
  var delays = delays
  while true {
    try Task.checkCancellation()
    do {
      return try await operation()
    } catch is CancellationError {
      throw CancellationError()
    } catch {
      let wait = delays.afterFailure()
      failed(error, wait)
      try await clock.sleep(for: wait)
    }
  }
}
