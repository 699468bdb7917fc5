import AirliftCore
import ArgumentParser

/// The rollout options shared by `deploy create` and `channel set`.
struct RolloutOptions: ParsableArguments {
  @Option(
    help: "Phased rollout: cumulative device counts or percents of the target, ending at 100% (10,10%,50%,100%).")
  var phases: String?
  @Option(help: "With --phases: percent of ended devices that must be Successful before the next phase.")
  var successThreshold: Double = 100
  @Option(help: "With --phases: seconds to wait after a phase ended before the next one starts.")
  var soak: Int = 0
  @Flag(help: "With --phases: start each next phase only on `airlift deploy promote`.") var manual = false
  @Option(help: "Start at most this many devices per minute.") var rate: Int?
  @Option(help: "Abort when more devices than N fail, or more than P% of those that ended (N or P%).")
  var maxFailures: String?
  @Option(help: "With a percent --max-failures: judge only once this many devices ended.") var minEnded: Int = 1
  @Flag(help: "Count --max-failures per phase instead of overall.") var perPhase = false
  @Flag(help: "After an abort by --max-failures, deploy to the devices that updated the version each had before.")
  var rollBackOnAbort = false

  /// The rollout plan the options describe, or nil for "every device at once".
  func plan() throws -> RolloutPlan? {
    if rollBackOnAbort && maxFailures == nil { throw ValidationError("--roll-back-on-abort needs --max-failures") }
    guard phases != nil || rate != nil || maxFailures != nil else { return nil }
    var plan = RolloutPlan(
      successThreshold: successThreshold, soakSeconds: soak, manualPromotion: manual, ratePerMinute: rate)
    if let phases {
      do { plan.phases = try PhaseSize.parseList(phases) } catch { throw ValidationError(error.description) }
    }
    if let maxFailures {
      var policy = FailurePolicy(minEnded: minEnded, perPhase: perPhase, rollBackOnAbort: rollBackOnAbort)
      if maxFailures.hasSuffix("%"), let percent = Double(maxFailures.dropLast()) {
        policy.maxFailurePercent = percent
      } else if let count = Int(maxFailures) {
        policy.maxFailures = count
      } else {
        throw ValidationError("--max-failures takes a count (3) or a percent (5%), got '\(maxFailures)'")
      }
      plan.failure = policy
    }
    return plan
  }
}
