import Foundation

/// How many devices a phase brings the rollout to: a count, or a percent
/// of the deployment's target. Phases are cumulative: `10,10%,50%,100%`
/// means ten devices first, then up to a tenth of the target, then half,
/// then all.
public enum PhaseSize: Codable, Sendable, Equatable, CustomStringConvertible {
  case count(Int)
  case percent(Double)

  /// How many of `target` devices have been started once this phase runs.
  public func devices(of target: Int) -> Int {
    switch self {
    case .count(let count): return min(max(count, 0), target)
    case .percent(let percent):
      guard percent.isFinite, percent > 0 else { return 0 }
      return min(target, Int((Double(target) * min(percent, 100) / 100).rounded(.up)))
    }
  }

  public var description: String {
    switch self {
    case .count(let count): return "\(count)"
    case .percent(let percent):
      return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
    }
  }

  /// One phase as written: `10` or `25%`.
  public init?(_ text: String) {
    let word = text.trimmingCharacters(in: .whitespaces)
    if word.hasSuffix("%"), let percent = Double(word.dropLast()), percent > 0, percent <= 100 {
      self = .percent(percent)
    } else if let count = Int(word), count > 0 {
      self = .count(count)
    } else {
      return nil
    }
  }

  /// Encoded as written (`"10"`, `"25%"`), so the REST API reads like the CLI.
  public init(from decoder: any Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let phase = PhaseSize(text) else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a count (10) or a percent (25%)"))
    }
    self = phase
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }

  /// Parses `10,10%,50%,100%`; the last phase must reach every device.
  public static func parseList(_ text: String) throws(AirliftCoreError) -> [PhaseSize] {
    var phases: [PhaseSize] = []
    for (index, item) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
      guard let phase = PhaseSize(String(item)) else {
        throw .invalidRollout(
          "phase \(index + 1) '\(item.trimmingCharacters(in: .whitespaces))' is not a device count (10) or a percent of the target (25%)"
        )
      }
      phases.append(phase)
    }
    guard phases.last == .percent(100) else {
      throw .invalidRollout("the last phase must be 100% (to update only some devices use --max-devices)")
    }
    return phases
  }
}

/// When to stop a rollout by itself.
public struct FailurePolicy: Codable, Sendable, Equatable {
  /// Abort when more devices than this have failed.
  public var maxFailures: Int?
  /// Abort when more than this percent of the devices that ended have failed.
  public var maxFailurePercent: Double?
  /// Judge the percent only once this many devices have ended.
  public var minEnded: Int
  /// Count per phase (the current one) instead of over the whole deployment.
  public var perPhase: Bool
  /// After an abort, deploy to the devices that had updated the version each had before (a linked deployment).
  public var rollBackOnAbort: Bool

  public init(
    maxFailures: Int? = nil, maxFailurePercent: Double? = nil, minEnded: Int = 1, perPhase: Bool = false,
    rollBackOnAbort: Bool = false
  ) {
    self.maxFailures = maxFailures
    self.maxFailurePercent = maxFailurePercent
    self.minEnded = minEnded
    self.perPhase = perPhase
    self.rollBackOnAbort = rollBackOnAbort
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    maxFailures = try c.decodeIfPresent(Int.self, forKey: .maxFailures)
    maxFailurePercent = try c.decodeIfPresent(Double.self, forKey: .maxFailurePercent)
    minEnded = try c.decodeIfPresent(Int.self, forKey: .minEnded) ?? 1
    perPhase = try c.decodeIfPresent(Bool.self, forKey: .perPhase) ?? false
    rollBackOnAbort = try c.decodeIfPresent(Bool.self, forKey: .rollBackOnAbort) ?? false
  }
}

/// A deployment's rollout: phases, the bar each phase must clear, a rate
/// limit and a failure policy. Stored with the deployment.
public struct RolloutPlan: Codable, Sendable, Equatable {
  public var phases: [PhaseSize]
  /// Percent of the devices that ended in the phases so far that must be
  /// `Successful` before the next phase starts.
  public var successThreshold: Double
  /// Seconds to wait after a phase ended before the next one starts.
  public var soakSeconds: Int
  /// The next phase starts only on `airlift deploy promote`.
  public var manualPromotion: Bool
  /// At most this many devices started per minute, across phases.
  public var ratePerMinute: Int?
  public var failure: FailurePolicy?

  public init(
    phases: [PhaseSize] = [.percent(100)], successThreshold: Double = 100, soakSeconds: Int = 0,
    manualPromotion: Bool = false, ratePerMinute: Int? = nil, failure: FailurePolicy? = nil
  ) {
    self.phases = phases
    self.successThreshold = successThreshold
    self.soakSeconds = soakSeconds
    self.manualPromotion = manualPromotion
    self.ratePerMinute = ratePerMinute
    self.failure = failure
  }

  /// Every field but `phases` may be left out (the defaults above).
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    phases = try c.decode([PhaseSize].self, forKey: .phases)
    successThreshold = try c.decodeIfPresent(Double.self, forKey: .successThreshold) ?? 100
    soakSeconds = try c.decodeIfPresent(Int.self, forKey: .soakSeconds) ?? 0
    manualPromotion = try c.decodeIfPresent(Bool.self, forKey: .manualPromotion) ?? false
    ratePerMinute = try c.decodeIfPresent(Int.self, forKey: .ratePerMinute)
    failure = try c.decodeIfPresent(FailurePolicy.self, forKey: .failure)
  }
}

/// One device of a rollout as the decision sees it.
public struct RolloutDevice: Sendable, Equatable {
  /// Its place in the deployment's stable order (0 first).
  public var position: Int
  /// Whether the controller has started it (told it to update).
  public var started: Bool
  public var state: DeviceState

  public init(position: Int, started: Bool, state: DeviceState) {
    self.position = position
    self.started = started
    self.state = state
  }
}

/// What a rollout looks like at one moment.
public struct RolloutSnapshot: Sendable, Equatable {
  /// The phase now running (0-based).
  public var phase: Int
  /// When the devices of the current phase had all ended (nil: not yet).
  public var phaseEndedAt: Double?
  /// Set by `promote`: the operator allows the next phase.
  public var promoted: Bool
  /// Devices started in the last 60 seconds.
  public var startedLastMinute: Int
  public var devices: [RolloutDevice]

  public init(
    phase: Int, phaseEndedAt: Double? = nil, promoted: Bool = false, startedLastMinute: Int = 0,
    devices: [RolloutDevice]
  ) {
    self.phase = phase
    self.phaseEndedAt = phaseEndedAt
    self.promoted = promoted
    self.startedLastMinute = startedLastMinute
    self.devices = devices
  }
}

/// What the controller should do with a rollout now.
public enum RolloutAction: Sendable, Equatable {
  /// Start these devices (positions), in order.
  case start([Int])
  /// Every device of the current phase ended: remember when (for the soak time).
  case phaseEnded
  /// Move on to this phase (0-based); the reason is recorded.
  case advance(to: Int, reason: String)
  /// Stay: the reason is shown to operators (waiting for promotion, soaking, below the threshold).
  case hold(String)
  case abort(String)
}

/// Rollout decisions as a pure function of the plan and a snapshot, so
/// every rule is tested without a database or a clock.
public enum Rollout {
  public static func decide(_ plan: RolloutPlan, _ snapshot: RolloutSnapshot, now: Double) -> [RolloutAction] {
    let devices = snapshot.devices.sorted { $0.position < $1.position }
    let target = devices.count
    guard !plan.phases.isEmpty else { return [] }
    let phase = min(max(snapshot.phase, 0), plan.phases.count - 1)
    // Phases are cumulative: a phase reaches at least as far as every phase before it, whatever a stored
    // plan mixing counts and percents says (10,10%,100% on 50 devices: phase 2 stays at 10).
    let reach = plan.phases.prefix(phase + 1).map { $0.devices(of: target) }
    let phaseEnd = reach.max() ?? 0
    let phaseStart = phase == 0 ? 0 : (reach.dropLast().max() ?? 0)

    if let policy = plan.failure, let reason = failureReason(policy, devices, phaseStart..<phaseEnd, phase: phase) {
      return [.abort(reason)]
    }

    // Start what the phase allows, within the rate.
    let waiting = devices.prefix(phaseEnd).filter { !$0.started }.map(\.position)
    if !waiting.isEmpty {
      let room = plan.ratePerMinute.map { max(0, $0 - snapshot.startedLastMinute) } ?? waiting.count
      return room > 0 ? [.start(Array(waiting.prefix(room)))] : [.hold("rate limit: \(plan.ratePerMinute!) per minute")]
    }
    guard phase + 1 < plan.phases.count else { return [] }

    // Every device so far started; the next phase needs them all ended.
    let soFar = devices.prefix(phaseEnd)
    guard soFar.allSatisfy(\.state.isTerminal) else { return [] }
    guard let endedAt = snapshot.phaseEndedAt else { return [.phaseEnded] }
    let successful = soFar.filter { $0.state == .successful }.count
    let percent = soFar.isEmpty ? 100 : Double(successful) * 100 / Double(soFar.count)
    let next = phase + 1
    let summary = "phase \(phase + 1) of \(plan.phases.count): \(successful) of \(soFar.count) successful"
    guard percent >= plan.successThreshold else {
      if snapshot.promoted { return [.advance(to: next, reason: "\(summary); promoted by an operator")] }
      return [
        .hold(
          "\(summary) (\(format(percent))%), below the \(format(plan.successThreshold))% threshold; promote to go on, or abort"
        )
      ]
    }
    if plan.manualPromotion && !snapshot.promoted {
      return [.hold("\(summary); waiting for `airlift deploy promote`")]
    }
    let soakLeft = min(Double(plan.soakSeconds) - (now - endedAt), Double(Limits.soakSeconds.upperBound))
    if soakLeft > 0 && !snapshot.promoted {
      return [.hold("\(summary); soaking, next phase in \(Int(soakLeft.rounded(.up))) s")]
    }
    return [.advance(to: next, reason: snapshot.promoted ? "\(summary); promoted" : summary)]
  }

  /// Whether the ended devices of a finished deployment broke its failure policy (counted overall), and why.
  public static func policyViolation(_ plan: RolloutPlan, states: [DeviceState]) -> String? {
    guard var policy = plan.failure else { return nil }
    policy.perPhase = false
    let devices = states.enumerated().map { RolloutDevice(position: $0.offset, started: true, state: $0.element) }
    return failureReason(policy, devices, 0..<devices.count, phase: 0)
  }

  private static func failureReason(
    _ policy: FailurePolicy, _ devices: [RolloutDevice], _ phaseRange: Range<Int>, phase: Int
  ) -> String? {
    let counted = policy.perPhase ? Array(devices[phaseRange.clamped(to: 0..<devices.count)]) : devices
    let ended = counted.filter { $0.started && $0.state.isTerminal }
    let failed = ended.filter { $0.state != .successful }.count
    let scope = policy.perPhase ? "in phase \(phase + 1)" : "overall"
    if let limit = policy.maxFailures, failed > limit {
      return "\(failed) device\(failed == 1 ? "" : "s") failed \(scope), more than the \(limit) allowed"
    }
    if let limit = policy.maxFailurePercent, ended.count >= max(policy.minEnded, 1) {
      let percent = Double(failed) * 100 / Double(ended.count)
      if percent > limit {
        return
          "\(format(percent))% of \(ended.count) ended devices failed \(scope), more than the \(format(limit))% allowed"
      }
    }
    return nil
  }

  private static func format(_ value: Double) -> String {
    value == value.rounded() ? "\(Int(value))" : String(Double(Int(value * 10)) / 10)
  }
}
