import AirliftCore
import Foundation
import Testing

@Suite("Rollout decisions")
struct RolloutTests {
  /// `states` in order; the first `started` of them have been started.
  static func snapshot(
    _ states: [DeviceState], started: Int, phase: Int, endedAt: Double? = nil, promoted: Bool = false,
    lastMinute: Int = 0
  ) -> RolloutSnapshot {
    RolloutSnapshot(
      phase: phase, phaseEndedAt: endedAt, promoted: promoted, startedLastMinute: lastMinute,
      devices: states.enumerated().map {
        RolloutDevice(position: $0.offset, started: $0.offset < started, state: $0.element)
      }
    )
  }

  static let ten = Array(repeating: DeviceState.pending, count: 10)

  @Test("phases parse as counts and percents and must end at 100%")
  func parsing() throws {
    #expect(try PhaseSize.parseList("1, 10%,50%,100%") == [.count(1), .percent(10), .percent(50), .percent(100)])
    #expect(PhaseSize.percent(10).devices(of: 25) == 3)
    #expect(PhaseSize.count(50).devices(of: 20) == 20)
    #expect(
      throws: AirliftCoreError.invalidRollout(
        "the last phase must be 100% (to update only some devices use --max-devices)")
    ) {
      try PhaseSize.parseList("10,50%")
    }
    #expect(throws: AirliftCoreError.self) { try PhaseSize.parseList("10,,100%") }
    #expect(throws: AirliftCoreError.self) { try PhaseSize.parseList("0,100%") }
    #expect(throws: AirliftCoreError.self) { try PhaseSize.parseList("150%") }
  }

  @Test("the first phase starts its devices in order; the rate limit holds back the rest")
  func startsThePhase() {
    let plan = RolloutPlan(phases: [.count(3), .percent(100)])
    #expect(Rollout.decide(plan, Self.snapshot(Self.ten, started: 0, phase: 0), now: 0) == [.start([0, 1, 2])])
    var limited = plan
    limited.ratePerMinute = 2
    #expect(
      Rollout.decide(limited, Self.snapshot(Self.ten, started: 1, phase: 0, lastMinute: 1), now: 0) == [.start([1])])
    #expect(
      Rollout.decide(limited, Self.snapshot(Self.ten, started: 2, phase: 0, lastMinute: 2), now: 0) == [
        .hold("rate limit: 2 per minute")
      ])
  }

  @Test("the next phase waits for every started device to end, notes when, soaks, then advances")
  func advances() {
    var plan = RolloutPlan(phases: [.count(2), .percent(100)], successThreshold: 50, soakSeconds: 30)
    let running: [DeviceState] = [.successful, .downloading] + Array(repeating: .pending, count: 8)
    #expect(Rollout.decide(plan, Self.snapshot(running, started: 2, phase: 0), now: 0) == [])
    let ended: [DeviceState] = [.successful, .failed] + Array(repeating: .pending, count: 8)
    #expect(Rollout.decide(plan, Self.snapshot(ended, started: 2, phase: 0), now: 0) == [.phaseEnded])
    #expect(
      Rollout.decide(plan, Self.snapshot(ended, started: 2, phase: 0, endedAt: 100), now: 110) == [
        .hold("phase 1 of 2: 1 of 2 successful; soaking, next phase in 20 s")
      ])
    #expect(
      Rollout.decide(plan, Self.snapshot(ended, started: 2, phase: 0, endedAt: 100), now: 131) == [
        .advance(to: 1, reason: "phase 1 of 2: 1 of 2 successful")
      ])
    // In the new phase the rest start.
    #expect(
      Rollout.decide(plan, Self.snapshot(ended, started: 2, phase: 1), now: 131) == [.start(Array(2..<10))])
    plan.manualPromotion = true
    #expect(
      Rollout.decide(plan, Self.snapshot(ended, started: 2, phase: 0, endedAt: 100), now: 500) == [
        .hold("phase 1 of 2: 1 of 2 successful; waiting for `airlift deploy promote`")
      ])
    #expect(
      Rollout.decide(plan, Self.snapshot(ended, started: 2, phase: 0, endedAt: 100, promoted: true), now: 101) == [
        .advance(to: 1, reason: "phase 1 of 2: 1 of 2 successful; promoted")
      ])
  }

  @Test("below the success threshold the rollout holds until an operator promotes or aborts")
  func threshold() {
    let plan = RolloutPlan(phases: [.count(4), .percent(100)], successThreshold: 95)
    let states: [DeviceState] = [.successful, .successful, .successful, .rolledBack] + Self.ten
    let held = Rollout.decide(plan, Self.snapshot(states, started: 4, phase: 0, endedAt: 0), now: 1)
    #expect(
      held == [.hold("phase 1 of 2: 3 of 4 successful (75%), below the 95% threshold; promote to go on, or abort")])
    #expect(
      Rollout.decide(plan, Self.snapshot(states, started: 4, phase: 0, endedAt: 0, promoted: true), now: 1) == [
        .advance(to: 1, reason: "phase 1 of 2: 3 of 4 successful; promoted by an operator")
      ])
  }

  @Test("failures past the policy abort, by count or by percent after enough ended, overall or per phase")
  func failurePolicy() {
    let states: [DeviceState] = [.failed, .successful, .failed, .downloading] + Array(repeating: .pending, count: 6)
    let byCount = RolloutPlan(phases: [.count(4), .percent(100)], failure: FailurePolicy(maxFailures: 1))
    #expect(
      Rollout.decide(byCount, Self.snapshot(states, started: 4, phase: 0), now: 0) == [
        .abort("2 devices failed overall, more than the 1 allowed")
      ])
    let byPercent = RolloutPlan(
      phases: [.count(4), .percent(100)], failure: FailurePolicy(maxFailurePercent: 50, minEnded: 3))
    #expect(
      Rollout.decide(byPercent, Self.snapshot(states, started: 4, phase: 0), now: 0) == [
        .abort("66.6% of 3 ended devices failed overall, more than the 50% allowed")
      ])
    let tooFewEnded = RolloutPlan(
      phases: [.count(4), .percent(100)], failure: FailurePolicy(maxFailurePercent: 50, minEnded: 4))
    #expect(Rollout.decide(tooFewEnded, Self.snapshot(states, started: 4, phase: 0), now: 0) == [])
    // Per phase: the failures of phase 1 do not count in phase 2.
    let laterPhase: [DeviceState] = [.failed, .failed, .successful, .successful, .successful, .pending]
    let perPhase = RolloutPlan(
      phases: [.count(2), .percent(100)], failure: FailurePolicy(maxFailures: 1, perPhase: true))
    #expect(
      Rollout.decide(perPhase, Self.snapshot(laterPhase, started: 5, phase: 1), now: 0) == [.start([5])])
    #expect(
      Rollout.decide(perPhase, Self.snapshot(laterPhase, started: 2, phase: 0), now: 0) == [
        .abort("2 devices failed in phase 1, more than the 1 allowed")
      ])
  }

  @Test("a finished deployment that broke its failure policy counts as aborted")
  func finishedWithTooManyFailures() {
    let plan = RolloutPlan(phases: [.percent(100)], failure: FailurePolicy(maxFailures: 0))
    #expect(
      Rollout.policyViolation(plan, states: [.successful, .failed])
        == "1 device failed overall, more than the 0 allowed")
    #expect(Rollout.policyViolation(plan, states: [.successful, .successful]) == nil)
    #expect(Rollout.policyViolation(RolloutPlan(), states: [.failed]) == nil)
  }

  @Test("the last phase finishes: nothing more to decide")
  func lastPhase() {
    let plan = RolloutPlan(phases: [.count(1), .percent(100)])
    let done = Array(repeating: DeviceState.successful, count: 3)
    #expect(Rollout.decide(plan, Self.snapshot(done, started: 3, phase: 1), now: 0) == [])
  }
}

@Suite("Rollout plan encoding")
struct RolloutPlanEncodingTests {
  @Test("phases travel as written: \"10\" and \"25%\"")
  func phasesAsText() throws {
    let plan = RolloutPlan(phases: [.count(10), .percent(25), .percent(100)])
    let json = String(decoding: Wire.encode(plan), as: UTF8.self)
    #expect(json.contains(#""phases":["10","25%","100%"]"#))
    let decoded = try JSONDecoder().decode(RolloutPlan.self, from: Data(json.utf8))
    #expect(decoded == plan)
    let minimal = try JSONDecoder().decode(
      RolloutPlan.self, from: Data(#"{"phases":["1","100%"],"failure":{"maxFailures":2}}"#.utf8))
    #expect(minimal == RolloutPlan(phases: [.count(1), .percent(100)], failure: FailurePolicy(maxFailures: 2)))
    #expect(throws: DecodingError.self) {
      try JSONDecoder().decode(
        RolloutPlan.self,
        from: Data(#"{"phases":["ten"],"successThreshold":1,"soakSeconds":0,"manualPromotion":false}"#.utf8))
    }
  }
}
