import Foundation

/// Why a flow cannot be stored or run, worded for the pipeline log that shows it.
public enum FlowError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalid(flow: String, reason: String)
  case unknownParameters([String], flow: API.FlowRef, declared: [String])
  case missingParameters([String], flow: API.FlowRef)
  case handlerMismatch(flow: API.FlowRef, handler: String, release: ReleaseRef, releaseHandler: String)

  public var description: String {
    switch self {
    case .invalid(let flow, let reason):
      return "flow '\(flow)': \(reason)"
    case .unknownParameters(let names, let flow, let declared):
      return "flow \(flow) has no parameter \(Self.list(names)); it declares "
        + (declared.isEmpty ? "none" : declared.joined(separator: ", "))
    case .missingParameters(let names, let flow):
      return "flow \(flow) needs \(Self.list(names)): give --param NAME=VALUE for each"
    case .handlerMismatch(let flow, let handler, let release, let releaseHandler):
      return "flow \(flow) installs with the '\(handler)' handler, but \(release) is a '\(releaseHandler)' release"
    }
  }

  private static func list(_ names: [String]) -> String {
    names.map { "'\($0)'" }.joined(separator: ", ")
  }
}

extension API.CreateFlow {
  /// Checks what can be checked without the fleet: names, parameters, one
  /// kind of target, a parseable expression, a coherent failure policy.
  public func validate() throws(FlowError) {
    func invalid(_ reason: String) -> FlowError { .invalid(flow: name, reason: reason) }
    do {
      try Names.validateTag(name)
      try Names.validateTag(handler)
      for parameter in parameters { try Names.validateParameter(parameter.name) }
    } catch {
      throw invalid(error.description)
    }
    var seen = Set<String>()
    for parameter in parameters {
      guard seen.insert(parameter.name).inserted else {
        throw invalid("parameter '\(parameter.name)' is declared twice")
      }
      if parameter.required && parameter.defaultValue != nil {
        throw invalid("parameter '\(parameter.name)' is required and has a default; give one or the other")
      }
    }
    if let reason = target.problem { throw invalid(reason) }
    switch (handler == HandlerName.steps, steps) {
    case (true, nil): throw invalid("a flow of the steps handler lists its steps")
    case (false, _?): throw invalid("steps belong to a flow of the 'steps' handler, not '\(handler)'")
    case (true, let steps?):
      do {
        try steps.validateSteps(declared: Set(parameters.map(\.name)), resolved: false)
      } catch {
        throw invalid(error.description)
      }
    case (false, nil): break
    }
    if let failure = onFailure {
      if let retries = failure.retries {
        guard failure.action == .retry else { throw invalid("retries belong to the retry action") }
        guard (1...10).contains(retries) else { throw invalid("retries must be 1 to 10") }
      }
      if failure.action == .retry, failure.maxFailures != nil || failure.maxFailurePercent != nil {
        throw invalid("maxFailures belongs to the stop and roll-back actions")
      }
      if let count = failure.maxFailures, count < 0 { throw invalid("maxFailures must be 0 or more") }
      if let percent = failure.maxFailurePercent, !(percent.isFinite && (0..<100).contains(percent)) {
        throw invalid("maxFailurePercent must be at least 0 and below 100")
      }
      if failure.maxFailures != nil && failure.maxFailurePercent != nil {
        throw invalid("give maxFailures or maxFailurePercent, not both")
      }
      if rollout?.failure != nil { throw invalid("give onFailure or the rollout's own failure policy, not both") }
    }
    do {
      try Limits.check("deviceTimeout", deviceTimeout, in: Limits.deviceTimeout, unit: "seconds")
      try Limits.check("downloadTimeout", downloadTimeout, in: Limits.stageTimeout, unit: "seconds")
      try Limits.check("installTimeout", installTimeout, in: Limits.stageTimeout, unit: "seconds")
      try Limits.check("onFailure.maxFailures", onFailure?.maxFailures, in: Limits.maxFailures, unit: "devices")
      try rollout?.validate()
    } catch {
      throw invalid(error.description)
    }
  }
}

extension API.FlowTarget {
  /// What is wrong with the target, in words; nil when it names exactly one kind of target, well formed.
  public var problem: String? {
    guard kinds == 1 else {
      return "give exactly one target: devices, a group, an expression, a channel or all devices"
    }
    if let devices {
      if devices.isEmpty { return "the target's device list is empty" }
      if !Limits.targetDevices.contains(devices.count) {
        return
          "target.devices lists \(devices.count) devices, out of range: give 1 to \(Limits.targetDevices.upperBound)"
      }
      for device in devices {
        do { _ = try DeviceID(device) } catch { return error.description }
      }
    }
    if let expression {
      do { _ = try PolicyExpression(expression) } catch { return "target expression: \(error)" }
    }
    if let channel {
      let parts = channel.split(separator: ":", omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        return "a channel target is PACKAGE:TAG, got '\(channel)'"
      }
    }
    return nil
  }
}

extension API.Flow {
  /// One run's steps: the flow's, each `${NAME}` replaced by this run's value, then checked as the device
  /// will run them. Nil for a flow without steps.
  public func resolvedSteps(_ values: [String: String]) throws(FlowError) -> [FlowStep]? {
    guard let steps = definition.steps else { return nil }
    do {
      let resolved = try steps.map { (step) throws(FlowStepError) in try step.resolved(values) }
      try resolved.validateSteps(declared: nil, resolved: true)
      return resolved
    } catch {
      throw .invalid(flow: ref.description, reason: error.description)
    }
  }

  /// One run's parameter values: what the run gives for declared
  /// parameters, the defaults for the rest. A value for an undeclared
  /// parameter, or none for a required one, is refused before anything starts.
  public func resolve(_ given: [String: String]) throws(FlowError) -> [String: String] {
    let declared = definition.parameters.map(\.name)
    let unknown = given.keys.filter { !declared.contains($0) }.sorted()
    guard unknown.isEmpty else { throw .unknownParameters(unknown, flow: ref, declared: declared) }
    let missing = definition.parameters.filter { $0.required && given[$0.name] == nil }.map(\.name)
    guard missing.isEmpty else { throw .missingParameters(missing, flow: ref) }
    var values: [String: String] = [:]
    for parameter in definition.parameters {
      if let value = given[parameter.name] ?? parameter.defaultValue { values[parameter.name] = value }
    }
    return values
  }

  /// The rollout plan and retries a run gets: `stop` and `roll-back` abort
  /// past the allowed failures (default: at the first), `roll-back` then
  /// deploys the previous versions back, `retry` gives failed devices the
  /// update again.
  public var runPolicy: (rollout: RolloutPlan?, retries: Int?) {
    guard let failure = definition.onFailure else { return (definition.rollout, nil) }
    switch failure.action {
    case .retry:
      return (definition.rollout, failure.retries ?? 2)
    case .stop, .rollBack:
      var plan = definition.rollout ?? RolloutPlan()
      plan.failure = FailurePolicy(
        maxFailures: failure.maxFailurePercent == nil ? (failure.maxFailures ?? 0) : nil,
        maxFailurePercent: failure.maxFailurePercent, rollBackOnAbort: failure.action == .rollBack)
      return (plan, nil)
    }
  }
}
