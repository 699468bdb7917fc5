import AirliftCore
import Foundation

/// The agent's time, from one injected clock: monotonic readings for
/// deadlines, the sleeps of every wait and retry, and the wall-clock date
/// the windows and a manifest's expiry are read against. The agent runs on
/// `.system`; a test passes a manual clock and moves time itself, so what
/// is about time is tested without waiting for it.
public struct AgentClock: Sendable {
  /// What sleeps and retries wait on.
  public let underlying: any Clock<Duration>
  private let reading: @Sendable () -> Duration
  private let wallClock: @Sendable () -> Date

  /// `clock` for sleeps and deadlines, `date` for the wall clock.
  public init<C: Clock<Duration>>(_ clock: C, date: @escaping @Sendable () -> Date) {
    let start = clock.now
    underlying = clock
    reading = { start.duration(to: clock.now) }
    wallClock = date
  }

  /// The monotonic clock and the system's date.
  public static var system: AgentClock { AgentClock(ContinuousClock()) { Date() } }

  /// A clock whose date moves with `clock`, starting at `start` (tests).
  public static func following<C: Clock<Duration>>(_ clock: C, from start: Date) -> AgentClock {
    let origin = clock.now
    return AgentClock(clock) { start.addingTimeInterval(origin.duration(to: clock.now).seconds) }
  }

  /// Time since this clock was made: only differences between readings mean anything.
  public var now: Duration { reading() }

  /// The wall-clock date (windows, expiry, timestamps).
  public var date: Date { wallClock() }

  public func sleep(for duration: Duration) async throws {
    try await underlying.sleep(for: duration)
  }

  /// Runs `body`, cancelling it once `limit` has passed on this clock; then
  /// it throws `CancellationError` while the caller itself is not cancelled.
  public func withTimeout<T: Sendable>(
    _ limit: Duration, _ body: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
      group.addTask { try await body() }
      group.addTask {
        try await sleep(for: limit)
        throw CancellationError()
      }
      defer { group.cancelAll() }
      return try await group.next()!
    }
  }
}
