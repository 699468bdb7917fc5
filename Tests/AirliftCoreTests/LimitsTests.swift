import AirliftCore
import Foundation
import PropertyBased
import Testing

/// Every number that enters from outside is checked against `Limits` where
/// it enters, and the arithmetic behind the checks never traps, whatever
/// the value: min, max, negative, NaN, huge.
@Suite("Ranges of every number, checked where it enters")
struct LimitsTests {
  static let count = PropertyTests.count
  static let now = Date(timeIntervalSince1970: 1_800_000_000)

  /// The values that broke things before: the ends of Int, zero, negatives, just past each range.
  static let extremes: [Int] = [
    .min, .min + 1, -1_000_000, -1, 0, 1, 2, 59, 60, 100, 101, 1_000_000, 2_592_000, 2_592_001, 7_776_001,
    10_000_001, Int(Int32.max), .max - 1, .max,
  ]
  static let doubles: [Double] = [
    -.infinity, -1e308, -1, -0.0, 0, 0.5, 99.99, 100, 100.0001, 1e9, 1e308, .infinity, .nan,
  ]

  static func deployment(_ change: (inout API.CreateDeployment) -> Void) -> API.CreateDeployment {
    var request = API.CreateDeployment(package: "app", version: "1.0.0", target: .init(devices: ["gw-1"]))
    change(&request)
    return request
  }

  static func refusal(_ request: API.CreateDeployment) -> AirliftCoreError? {
    do {
      try request.validate(now: now)
      return nil
    } catch {
      return error
    }
  }

  @Test("a deployment's timeouts: 1 s to 30 days per stage, 90 days per device; the error names field and range")
  func timeouts() {
    let huge = Self.refusal(Self.deployment { $0.downloadTimeout = .max })
    #expect(
      huge
        == .outOfRange(
          field: "downloadTimeout", value: "9223372036854775807", allowed: "1 to 2592000 seconds (30 days)"))
    #expect(huge?.description.contains("downloadTimeout is 9223372036854775807, out of range") == true)
    #expect(Self.refusal(Self.deployment { $0.installTimeout = 0 }) != nil)
    #expect(Self.refusal(Self.deployment { $0.installTimeout = 2_592_000 }) == nil)
    #expect(Self.refusal(Self.deployment { $0.deviceTimeout = 7_776_001 }) != nil)
    #expect(Self.refusal(Self.deployment { $0.deviceTimeout = -5 }) != nil)
    #expect(Self.refusal(Self.deployment { $0.maxDevices = 0 }) != nil)
    #expect(Self.refusal(Self.deployment { $0.retries = 11 }) != nil)
    #expect(Self.refusal(Self.deployment { _ in }) == nil)
  }

  @Test("a target names exactly one kind of devices; names, parameters and start times are bounded")
  func shapes() {
    #expect(Self.refusal(Self.deployment { $0.target = .init(devices: ["gw-1"], allDevices: true) }) != nil)
    #expect(Self.refusal(Self.deployment { $0.target = .init() }) != nil)
    #expect(Self.refusal(Self.deployment { $0.target = .init(devices: ["gw-1", "gw-1"]) }) != nil)
    #expect(Self.refusal(Self.deployment { $0.target = .init(devices: []) }) != nil)
    #expect(Self.refusal(Self.deployment { $0.target = .init(group: "eu") }) == nil)
    #expect(Self.refusal(Self.deployment { $0.name = String(repeating: "n", count: 201) }) != nil)
    #expect(Self.refusal(Self.deployment { $0.name = String(repeating: "n", count: 200) }) == nil)
    #expect(Self.refusal(Self.deployment { $0.parameters = ["A": String(repeating: "v", count: 4097)] }) != nil)
    #expect(Self.refusal(Self.deployment { $0.startAt = Self.now.addingTimeInterval(400 * 86_400) }) != nil)
    #expect(Self.refusal(Self.deployment { $0.startAt = Date(timeIntervalSince1970: 0) }) != nil)
    #expect(Self.refusal(Self.deployment { $0.startAt = Self.now.addingTimeInterval(3600) }) == nil)
    #expect(Self.refusal(Self.deployment { $0.canariesFrom = "dep-1" }) != nil)
  }

  @Test("rollout phases must grow, percents stay in range, every other number has its range")
  func rolloutPlans() {
    func refused(_ plan: RolloutPlan) -> Bool { (try? plan.validate()) == nil }
    #expect(refused(RolloutPlan(phases: [.count(5), .count(3), .percent(100)])))
    #expect(refused(RolloutPlan(phases: [.percent(50), .percent(20), .percent(100)])))
    #expect(!refused(RolloutPlan(phases: [.count(10), .percent(10), .percent(100)])))
    #expect(refused(RolloutPlan(phases: [.count(1), .percent(100)], successThreshold: 101)))
    #expect(refused(RolloutPlan(phases: [.percent(100)], successThreshold: .nan)))
    #expect(refused(RolloutPlan(phases: [.percent(100)], soakSeconds: .max)))
    #expect(refused(RolloutPlan(phases: [.percent(100)], ratePerMinute: 0)))
    #expect(refused(RolloutPlan(phases: [.percent(100)], failure: FailurePolicy(maxFailures: -1))))
    #expect(refused(RolloutPlan(phases: [.percent(100)], failure: FailurePolicy(maxFailurePercent: .infinity))))
    #expect(refused(RolloutPlan(phases: Array(repeating: .percent(100), count: 101))))
    let message = (try? RolloutPlan(phases: [.count(5), .count(3), .percent(100)]).validate()).map { _ in "" }
    #expect(message == nil)
  }

  @Test("generated deployments with extreme numbers: valid, or refused with the field named, never a crash")
  func generatedDeployments() async {
    await propertyCheck(
      count: Self.count, input: Gen.int(in: 0..<Self.extremes.count).array(of: 7),
      Gen.int(in: 0..<Self.doubles.count)
    ) { picks, double in
      let values = picks.map { Self.extremes[$0] }
      let request = Self.deployment {
        $0.maxDevices = values[0]
        $0.deviceTimeout = values[1]
        $0.downloadTimeout = values[2]
        $0.installTimeout = values[3]
        $0.retries = values[4]
        $0.rollout = RolloutPlan(
          phases: [.count(max(values[5], 1)), .percent(100)], successThreshold: Self.doubles[double],
          soakSeconds: values[6], ratePerMinute: values[5])
      }
      if let error = Self.refusal(request) {
        guard case .outOfRange(let field, let value, let allowed) = error else {
          Issue.record("expected an out-of-range error, got \(error)")
          return
        }
        #expect(!field.isEmpty && !value.isEmpty && allowed.contains("to"))
      } else {
        #expect(Limits.deviceCount.contains(values[0]) && Limits.stageTimeout.contains(values[2]))
      }
    }
  }

  @Test("any stored plan and fleet: the rollout decision never traps (phases that shrink, huge soak)")
  func storedPlansNeverTrap() async {
    let sizes: [PhaseSize] = [.count(1), .count(10), .count(1_000_000), .percent(0.001), .percent(10), .percent(100)]
    await propertyCheck(
      count: Self.count, input: Gen.int(in: 0..<sizes.count).array(of: 0...4), Gen.int(in: 0...60),
      Gen.int(in: 0..<Self.extremes.count), Gen.int(in: -2...6), Gen.int(in: 0...3)
    ) { picks, target, soak, phase, failed in
      let plan = RolloutPlan(
        phases: picks.map { sizes[$0] } + [.percent(100)], soakSeconds: Self.extremes[soak],
        failure: FailurePolicy(maxFailures: 0))
      let states = (0..<target).map { $0 < failed ? DeviceState.failed : .successful }
      let snapshot = RolloutSnapshot(
        phase: phase, phaseEndedAt: 0,
        devices: states.enumerated().map { RolloutDevice(position: $0.offset, started: true, state: $0.element) })
      _ = Rollout.decide(plan, snapshot, now: 1)
    }
  }

  @Test("10,10%,100% on 50 devices: phase 2 reaches no fewer devices than phase 1")
  func shrinkingPhasesHold() {
    let plan = RolloutPlan(phases: [.count(10), .percent(10), .percent(100)], failure: FailurePolicy(maxFailures: 5))
    let devices = (0..<50).map {
      RolloutDevice(position: $0, started: $0 < 10, state: $0 < 10 ? .successful : .pending)
    }
    // Phase 2 adds no device: its ten have all ended, so it is simply over.
    #expect(Rollout.decide(plan, RolloutSnapshot(phase: 1, devices: devices), now: 0) == [.phaseEnded])
  }

  @Test("a notice the agent cannot carry out is refused whole: timeouts, sizes, round, parameters")
  func notices() {
    let digest = String(repeating: "ab", count: 32)
    var notice = DeploymentNotice(
      deployment: "dep-1", release: ReleaseRef(package: "app", version: "1.0.0"), handler: "script",
      artifacts: [ArtifactRef(name: "b.tar.gz", url: "https://c/b", size: 3, sha256: digest)])
    #expect((try? notice.validate()) != nil)
    for (download, install) in [(Int.max, 600), (600, Int.min), (0, 600), (600, -1)] {
      var changed = notice
      changed.timeouts = UpdateTimeouts(download: download, install: install)
      #expect((try? changed.validate()) == nil)
    }
    notice.artifacts = [
      ArtifactRef(name: "a", url: "u", size: .max, sha256: digest),
      ArtifactRef(name: "b", url: "u", size: .max, sha256: digest),
    ]
    #expect((try? notice.validate()) == nil)
    #expect(notice.artifacts.totalSize == .max)
    notice.artifacts = [ArtifactRef(name: "a", url: "u", size: -5, sha256: digest)]
    #expect((try? notice.validate()) == nil)
    #expect(notice.artifacts.totalSize == 0)
  }

  @Test("arithmetic on what a notice says saturates: durations")
  func saturation() {
    #expect(Limits.duration(seconds: .max, in: Limits.stageTimeout) == .seconds(2_592_000))
    #expect(Limits.duration(seconds: .min, in: Limits.stageTimeout) == .seconds(1))
    #expect(Backoff.describe(4.2345) == "4.2 s")
    #expect(Backoff.describe(38.6) == "39 s")
    #expect(Backoff.describe(.nan) == "? s")
  }

  @Test("reports and check-ins from a device: numbers and sizes in range")
  func deviceMessages() {
    var report = StatusReport(deployment: "dep-1", state: .downloading, percent: 50, seq: 7)
    #expect((try? report.validate()) != nil)
    for change: (inout StatusReport) -> Void in [
      { $0.seq = .min }, { $0.seq = 0 }, { $0.percent = 101 }, { $0.percent = -1 }, { $0.attempt = .max },
      { $0.round = 0 }, { $0.bytes = -1 }, { $0.error = String(repeating: "e", count: 9000) },
    ] {
      var changed = report
      change(&changed)
      #expect((try? changed.validate()) == nil)
    }
    report.deployment = ""
    #expect((try? report.validate()) == nil)
    var checkIn = CheckIn(device: try! DeviceID("gw-1"), attributes: [:], installed: [:], agentVersion: "1")
    checkIn.nextCheckIn = Self.now.addingTimeInterval(100 * 86_400)
    #expect((try? checkIn.validate(now: Self.now)) == nil)
    checkIn.nextCheckIn = Self.now.addingTimeInterval(60)
    #expect((try? checkIn.validate(now: Self.now)) != nil)
    checkIn.attributes = Dictionary(uniqueKeysWithValues: (0...1000).map { ("k\($0)", "v") })
    #expect((try? checkIn.validate(now: Self.now)) == nil)
    // What it follows and runs is named and sized as operators' names are (a schemathesis check-in following
    // {"0": ""} once made GET /api/v1/channels crash the controller).
    checkIn.attributes = [:]
    checkIn.follows = ["gw-fw": "stable"]
    checkIn.apps = [AppState(name: "web", version: "1.0.0", state: .running)]
    checkIn.problems = ["the data disk is full"]
    #expect((try? checkIn.validate(now: Self.now)) != nil)
    for change: (inout CheckIn) -> Void in [
      { $0.follows = ["0": ""] }, { $0.follows = ["": "stable"] }, { $0.follows = ["gw-fw": "a:b"] },
      { $0.follows = ["Bad Name": "stable"] },
      { $0.follows = Dictionary(uniqueKeysWithValues: (0...1000).map { ("p\($0)", "stable") }) },
      { $0.apps = [AppState(name: String(repeating: "a", count: 200), version: "1", state: .running)] },
      { $0.apps = [AppState(name: "web", version: "1", state: .stopped, reason: String(repeating: "r", count: 9000))] },
      { $0.problems = [String(repeating: "p", count: 9000)] },
    ] {
      var changed = checkIn
      change(&changed)
      #expect((try? changed.validate(now: Self.now)) == nil)
    }
  }

  @Test("form queries: + is a space, escapes decode, any value survives encoding")
  func formQueries() async {
    let query = FormQuery("where=version+%3E%3D+1.0.0+%3C2.0.0&attr=a%3Db&attr=c%3Dd&empty=&bad=%ZZ")
    #expect(query.get("where") == "version >= 1.0.0 <2.0.0")
    #expect(query.getAll("attr") == ["a=b", "c=d"])
    #expect(query.get("empty") == "")
    #expect(query.get("bad") == "%ZZ")
    #expect(query.get("missing") == nil)
    await propertyCheck(count: Self.count, input: Gen.character(in: " "..."\u{2FF}").string(of: 0...20)) { value in
      let encoded = FormQuery.encode([("v", value), ("w", "+ &=")])
      #expect(FormQuery(encoded).get("v") == value)
      #expect(FormQuery(encoded).get("w") == "+ &=")
    }
  }
}

@Suite("Token bucket")
struct TokenBucketTests {
  @Test("a burst of capacity, then the refill rate; time that goes backwards or is not finite adds nothing")
  func bucket() {
    var bucket = TokenBucket(capacity: 10, refillPerSecond: 2, now: 100)
    func take(_ cost: Double, _ now: Double) -> Bool { bucket.take(cost, now: now) }
    var taken = 0
    for _ in 0..<10 where bucket.take(1, now: 100) { taken += 1 }
    #expect(taken == 10)
    #expect(!take(1, 100))
    #expect(take(1, 100.5))
    #expect(!take(1, 100.5))
    #expect(!take(1, 50))
    #expect(!take(1, .nan))
    #expect(take(4, 102.5))
    #expect(!bucket.isFull(now: 102.5))
    #expect(bucket.isFull(now: 1000))
    #expect(!take(11, 2000))
  }
}
