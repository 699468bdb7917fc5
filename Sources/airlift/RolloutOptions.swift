import AirliftCore
import ArgumentParser

/// The rollout options shared by `deploy create` and `channel set`.
struct RolloutOptions: ParsableArguments {
  @Option(
    help: "Phased rollout: cumulative device counts or percents of the target, ending at 100% (10,10%,50%,100%).")
  var phases: String?
  @Option(
    parsing: .unconditional,
    help: "With --phases: percent of ended devices that must be Successful before the next phase [100].")
  var successThreshold: Double?
  @Option(
    parsing: .unconditional, help: "With --phases: seconds to wait after a phase ended before the next one starts [0].")
  var soak: Int?
  @Flag(help: "With --phases: start each next phase only on `airlift deploy promote`.") var manual = false
  @Option(parsing: .unconditional, help: "Start at most this many devices per minute.") var rate: Int?
  @Option(
    parsing: .unconditional, help: "Abort when more devices than N fail, or more than P% of those that ended (N or P%)."
  )
  var maxFailures: String?
  @Option(parsing: .unconditional, help: "With a percent --max-failures: judge only once this many devices ended [1].")
  var minEnded: Int?
  @Flag(help: "Count --max-failures per phase instead of overall.") var perPhase = false
  @Flag(help: "After an abort by --max-failures, deploy to the devices that updated the version each had before.")
  var rollBackOnAbort = false

  /// The rollout plan the options describe, or nil for "every device at once".
  func plan() throws -> RolloutPlan? {
    if rollBackOnAbort && maxFailures == nil { throw ValidationError("--roll-back-on-abort needs --max-failures") }
    if phases == nil {
      for (flag, given) in [
        ("--success-threshold", successThreshold != nil), ("--soak", soak != nil), ("--manual", manual),
      ]
      where given {
        throw ValidationError("\(flag) steers phases: give --phases too")
      }
    }
    if maxFailures == nil {
      for (flag, given) in [("--min-ended", minEnded != nil), ("--per-phase", perPhase)] where given {
        throw ValidationError("\(flag) goes with --max-failures")
      }
    }
    try OptionRange.check("--success-threshold", successThreshold, Limits.percent, unit: "percent")
    try OptionRange.check("--soak", soak, Limits.soakSeconds, unit: "seconds")
    try OptionRange.check("--rate", rate, Limits.ratePerMinute, unit: "devices per minute")
    try OptionRange.check("--min-ended", minEnded, Limits.deviceCount, unit: "devices")
    guard phases != nil || rate != nil || maxFailures != nil else { return nil }
    var plan = RolloutPlan(
      successThreshold: successThreshold ?? 100, soakSeconds: soak ?? 0, manualPromotion: manual, ratePerMinute: rate)
    if let phases {
      do {
        plan.phases = try PhaseSize.parseList(phases)
        try plan.validate(field: "--phases")
      } catch {
        throw ValidationError(error.description)
      }
    }
    if let maxFailures {
      var policy = FailurePolicy(minEnded: minEnded ?? 1, perPhase: perPhase, rollBackOnAbort: rollBackOnAbort)
      if maxFailures.hasSuffix("%"), let percent = Double(maxFailures.dropLast()) {
        try OptionRange.check("--max-failures (percent)", percent, Limits.percent, unit: "percent")
        policy.maxFailurePercent = percent
      } else if let count = Int(maxFailures) {
        try OptionRange.check("--max-failures", count, Limits.maxFailures, unit: "devices")
        policy.maxFailures = count
      } else {
        throw ValidationError("--max-failures takes a count (3) or a percent (5%), got '\(maxFailures)'")
      }
      plan.failure = policy
    }
    return plan
  }
}

/// Range checks of numeric options, named by their flag, with the API's ranges (`Limits`).
enum OptionRange {
  static func check(_ flag: String, _ value: Int?, _ range: ClosedRange<Int>, unit: String = "") throws {
    guard let value, !range.contains(value) else { return }
    throw ValidationError("\(flag) is \(value), out of range: give \(Limits.describe(range, unit: unit))")
  }

  static func check(_ flag: String, _ value: Double?, _ range: ClosedRange<Double>, unit: String = "") throws {
    guard let value, !(value.isFinite && range.contains(value)) else { return }
    throw ValidationError(
      "\(flag) is \(value), out of range: give \(Int(range.lowerBound)) to \(Int(range.upperBound))\(unit.isEmpty ? "" : " \(unit)")"
    )
  }
}
