import AirliftCore
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
