import AirliftCore
import AirliftTesting
import Synchronization
import Testing

@Suite("Retry backoff")
struct BackoffTests {
  @Test("delays double from the base, stay within [ceiling/2, ceiling] and stop at the maximum")
  func delays() {
    let backoff = Backoff(base: 2, maximum: 20, maxAttempts: 4)
    #expect(backoff.delay(before: 1, random: 0) == 1)
    #expect(backoff.delay(before: 1, random: 0.999) < 2)
    #expect(backoff.delay(before: 2, random: 0) == 2)
    #expect(backoff.delay(before: 3, random: 0.5) == 6)
    #expect(backoff.delay(before: 10, random: 1) == 20)
    #expect(backoff.delay(before: 10, random: 0) == 10)
  }

  @Test("the attempt budget counts the first try")
  func budget() {
    let backoff = Backoff(maxAttempts: 3)
    #expect([1, 2, 3].map(backoff.allowsRetry(after:)) == [true, true, false])
  }
}

@Suite("Retry loops")
struct RetryTests {
  @Test("the waits double from the base up to the cap, jittered within [ceiling/2, ceiling]; a success starts over")
  func delays() {
    var top = RetryDelays(Backoff(base: 0.5, maximum: 4), jitter: .none)
    #expect((1...6).map { _ in top.afterFailure() } == [0.5, 1, 2, 4, 4, 4].map { Duration.seconds($0) })
    top.reset()
    #expect(top.afterFailure() == .seconds(0.5))
    var low = RetryDelays(Backoff(base: 2, maximum: 30), jitter: Jitter { 0 })
    #expect((1...5).map { _ in low.afterFailure() } == [1, 2, 4, 8, 15].map { Duration.seconds($0) })
    // Hundreds of failures in a row neither overflow nor pass the cap.
    for _ in 0..<2_000 { #expect(low.afterFailure() <= .seconds(30)) }
  }

  @Test("two devices that fail together do not retry together")
  func jitterSpreads() {
    var first = RetryDelays(Backoff(base: 1, maximum: 60), jitter: Jitter { 0.1 })
    var second = RetryDelays(Backoff(base: 1, maximum: 60), jitter: Jitter { 0.9 })
    let a = (1...5).map { _ in first.afterFailure() }
    let b = (1...5).map { _ in second.afterFailure() }
    #expect(zip(a, b).allSatisfy { $0 < $1 })
  }

  @Test("retrying sleeps on the clock it is given, exactly the waits, and returns the first success")
  func retryingOnAManualClock() async throws {
    let clock = ManualClock()
    let calls = Counter()
    let failures = Counter()
    let task = Task {
      try await retrying(
        RetryDelays(Backoff(base: 1, maximum: 4), jitter: .none), clock: clock,
        failed: { _, _ in failures.increment() },
        {
          guard calls.increment() > 4 else { throw RetryTestError.notYet }
          return "connected"
        })
    }
    for wait in [1, 2, 4, 4] as [Int64] {
      await clock.waitForSleepers()
      clock.advance(by: .seconds(wait))
    }
    #expect(try await task.value == "connected")
    #expect(clock.waits == [1, 2, 4, 4].map { Duration.seconds($0) })
    #expect(calls.value == 5 && failures.value == 4)
  }

  @Test("cancelling a retry loop ends it while it waits")
  func cancellation() async {
    let clock = ManualClock()
    let task = Task {
      try await retrying(RetryDelays(Backoff(base: 60, maximum: 60)), clock: clock) {
        throw RetryTestError.notYet
      }
    }
    await clock.waitForSleepers()
    task.cancel()
    await #expect(throws: CancellationError.self) { try await task.value }
  }
}

private enum RetryTestError: Error { case notYet }

/// A count several tasks may bump.
private final class Counter: Sendable {
  private let count = Mutex(0)
  @discardableResult func increment() -> Int {
    count.withLock {
      $0 += 1
      return $0
    }
  }
  var value: Int { count.withLock { $0 } }
}
