import Testing

@testable import AirliftAgent

@Suite("How often download progress is reported")
struct ProgressThrottleTests {
  @Test("progress is reported at most once per interval and once per percent; 100% always")
  func throttle() {
    var throttle = ProgressThrottle(interval: 1.0)
    let decisions = [(0.0, 0), (0.5, 10), (1.1, 10), (5.0, 10), (5.1, 100)].map {
      throttle.shouldReport(now: $0.0, percent: $0.1)
    }
    #expect(decisions == [true, false, true, false, true])
    #expect(ProgressThrottle.percent(1, of: 3) == 33)

    // With a percent step, a fast download reports every step even inside the interval.
    var stepped = ProgressThrottle(interval: 10, percentStep: 25)
    let steps = [(0.0, 0), (0.1, 10), (0.2, 25), (0.3, 49), (0.4, 50), (0.5, 51), (11.0, 60)].map {
      stepped.shouldReport(now: $0.0, percent: $0.1)
    }
    #expect(steps == [true, false, true, false, true, false, true])
    #expect(ProgressThrottle.percent(5, of: 0) == 0)
  }

  @Test("percents saturate: a forged size or byte count cannot overflow or go negative")
  func percentsSaturate() {
    #expect(ProgressThrottle.percent(.max, of: 10) == 100)
    #expect(ProgressThrottle.percent(-5, of: 10) == 0)
    #expect(ProgressThrottle.percent(5, of: 10) == 50)
  }
}
