import Foundation

extension RolloutPlan {
  /// Refuses a plan that could never finish or that says something absurd, naming the field to fix.
  public func validate(field: String = "rollout") throws(AirliftCoreError) {
    try Limits.check("\(field).phases (how many)", phases.count, in: Limits.phases)
    guard phases.last == .percent(100) else {
      throw .invalidField(
        field: "\(field).phases", reason: "the last phase must be 100% (to update only some devices use maxDevices)")
    }
    var lastCount = 0
    var lastPercent = 0.0
    for (index, phase) in phases.enumerated() {
      let name = "\(field).phases[\(index + 1)]"
      switch phase {
      case .count(let count):
        try Limits.check(name, count, in: Limits.deviceCount, unit: "devices")
        guard count > lastCount else {
          throw .invalidField(
            field: name, reason: "phases are cumulative and must grow: \(count) devices after \(lastCount)")
        }
        lastCount = count
      case .percent(let percent):
        guard percent.isFinite, percent > 0, percent <= 100 else {
          throw .outOfRange(field: name, value: "\(percent)%", allowed: "a percent above 0 and at most 100")
        }
        guard percent > lastPercent else {
          throw .invalidField(
            field: name,
            reason: "phases are cumulative and must grow: \(phase) after \(PhaseSize.percent(lastPercent))")
        }
        lastPercent = percent
      }
    }
    try Limits.check("\(field).successThreshold", successThreshold, in: Limits.percent, unit: "percent")
    try Limits.check("\(field).soakSeconds", soakSeconds, in: Limits.soakSeconds, unit: "seconds")
    try Limits.check("\(field).ratePerMinute", ratePerMinute, in: Limits.ratePerMinute, unit: "devices per minute")
    if let failure {
      try Limits.check("\(field).failure.maxFailures", failure.maxFailures, in: Limits.maxFailures, unit: "devices")
      try Limits.check(
        "\(field).failure.maxFailurePercent", failure.maxFailurePercent, in: Limits.percent, unit: "percent")
      try Limits.check("\(field).failure.minEnded", failure.minEnded, in: Limits.deviceCount, unit: "devices")
    }
  }
}

extension API.Target {
  /// A request's target names exactly one kind: devices, a group, a channel, or all devices.
  public func validate() throws(AirliftCoreError) {
    let kinds = [devices != nil, group != nil, channel != nil, allDevices].filter { $0 }.count
    guard kinds == 1 || (kinds == 0 && releasePolicy) else {
      throw .invalidField(
        field: "target", reason: "give exactly one of devices, group, channel or allDevices (got \(kinds))")
    }
    if let devices {
      try Limits.check("target.devices (how many)", devices.count, in: Limits.targetDevices, unit: "devices")
      var seen = Set<String>()
      for id in devices {
        _ = try DeviceID(id)
        guard seen.insert(id).inserted else {
          throw .invalidField(field: "target.devices", reason: "device '\(id)' is listed twice")
        }
      }
    }
    if let group { try Names.validateTag(group) }
  }
}

extension API.CreateDeployment {
  /// Checks every field that can be checked without the store: names, the
  /// target's shape, each number against `Limits`, the start time.
  public func validate(now: Date = Date()) throws(AirliftCoreError) {
    try Names.validatePackage(package)
    try target.validate()
    try Self.validate(parameters: parameters)
    if let name { try Limits.check("name (bytes)", name.utf8.count, in: Limits.nameBytes) }
    try Limits.check("maxDevices", maxDevices, in: Limits.deviceCount, unit: "devices")
    try Limits.check("deviceTimeout", deviceTimeout, in: Limits.deviceTimeout, unit: "seconds")
    try Limits.check("downloadTimeout", downloadTimeout, in: Limits.stageTimeout, unit: "seconds")
    try Limits.check("installTimeout", installTimeout, in: Limits.stageTimeout, unit: "seconds")
    try Limits.check("retries", retries, in: Limits.retries)
    try rollout?.validate()
    try Self.validate(startAt: startAt, now: now)
    if canariesFrom != nil && rollout == nil {
      throw .invalidField(field: "canariesFrom", reason: "it orders a phased rollout: give rollout phases too")
    }
  }

  /// Parameter names become environment variables; values and their number are bounded.
  public static func validate(parameters: [String: String]) throws(AirliftCoreError) {
    try Limits.check("parameters (how many)", parameters.count, in: Limits.parameters)
    for (key, value) in parameters {
      try Names.validateParameter(key)
      try Limits.check("parameters.\(key) (bytes)", value.utf8.count, in: Limits.parameterValueBytes)
    }
  }

  /// A start time within a year from now (a little in the past is "now").
  public static func validate(startAt: Date?, now: Date) throws(AirliftCoreError) {
    guard let startAt else { return }
    let earliest = now.addingTimeInterval(-Limits.startBehind)
    let latest = now.addingTimeInterval(Limits.startAhead)
    guard startAt >= earliest, startAt <= latest else {
      throw .outOfRange(
        field: "startAt", value: startAt.formatted(.iso8601),
        allowed: "a time from \(earliest.formatted(.iso8601)) to \(latest.formatted(.iso8601)) (within a year)")
    }
  }
}

extension DeploymentNotice {
  /// What the agent checks before it acts on a notice (or on one it stored
  /// earlier): every number it will compute with is in range, so a notice
  /// can end its update `Failed` but never stop the agent.
  public func validate() throws(AirliftCoreError) {
    try Limits.check("timeouts.download", timeouts.download, in: Limits.stageTimeout, unit: "seconds")
    try Limits.check("timeouts.install", timeouts.install, in: Limits.stageTimeout, unit: "seconds")
    try Limits.check("round", round, in: Limits.round)
    try Limits.check("artifacts (how many)", artifacts.count, in: Limits.assets)
    for artifact in artifacts {
      try Names.validateAssetName(artifact.name)
      try Limits.check("artifacts.\(artifact.name).size", artifact.size, in: Limits.assetSize, unit: "bytes")
      try Names.validateDigest(artifact.sha256)
    }
    try API.CreateDeployment.validate(parameters: parameters)
  }
}

extension StatusReport {
  /// What the controller accepts from a device: numbers in range and text of a bounded size.
  public func validate() throws(AirliftCoreError) {
    try Limits.check("deployment (bytes)", deployment.utf8.count, in: 1...128)
    try Limits.check("seq", seq, in: 1...(Int64.max / 2))
    try Limits.check("percent", percent, in: 0...100, unit: "percent")
    try Limits.check("attempt", attempt, in: 0...1_000)
    try Limits.check("round", round, in: Limits.round)
    try Limits.check("bytes", bytes, in: 0...(Int64.max / 2), unit: "bytes")
    try Limits.check("total", total, in: 0...(Int64.max / 2), unit: "bytes")
    try Limits.check("reused", reused, in: 0...(Int64.max / 2), unit: "bytes")
    try Limits.check("fetched", fetched, in: 0...(Int64.max / 2), unit: "bytes")
    try Limits.check("stage (bytes)", stage?.utf8.count, in: 0...Limits.reportTextBytes.upperBound)
    try Limits.check("error (bytes)", error?.utf8.count, in: 0...Limits.reportTextBytes.upperBound)
  }
}

extension CommandResult {
  /// A device's answer of a bounded size.
  public func validate() throws(AirliftCoreError) {
    do { try Names.validateTag(command) } catch { throw .invalidName(command) }
    try Limits.check("message (bytes)", message.utf8.count, in: Limits.commandMessageBytes)
  }
}

extension CheckIn {
  /// A device document of a bounded size, and a promised next check-in within a month.
  public func validate(now: Date = Date()) throws(AirliftCoreError) {
    try Limits.check("attributes (how many)", attributes.count, in: 0...Limits.checkInEntries.upperBound)
    try Limits.check("installed (how many)", installed.count, in: 0...Limits.checkInEntries.upperBound)
    for (key, value) in attributes.merging(installed, uniquingKeysWith: { first, _ in first }) {
      try Limits.check("key '\(key.prefix(64))…' (bytes)", key.utf8.count, in: Limits.checkInKeyBytes)
      try Limits.check("'\(key.prefix(64))' (bytes)", value.utf8.count, in: Limits.checkInValueBytes)
    }
    try Limits.check("problems (how many)", problems?.count, in: 0...20)
    for problem in problems ?? [] {
      try Limits.check("a problem (bytes)", problem.utf8.count, in: Limits.reportTextBytes)
    }
    // The channels it follows name packages and tags as operators do.
    try Limits.check("follows (how many)", follows?.count, in: 0...Limits.checkInEntries.upperBound)
    for (package, tag) in follows ?? [:] {
      do {
        try Names.validatePackage(package)
        try Names.validateTag(tag)
      } catch {
        throw .invalidField(
          field: "follows",
          reason: "'\(package.prefix(64))': '\(tag.prefix(64))' is not a channel (a package and a tag): \(error)")
      }
    }
    try Limits.check("apps (how many)", apps?.count, in: 0...Limits.checkInEntries.upperBound)
    for app in apps ?? [] {
      try Limits.check("an app's name (bytes)", app.name.utf8.count, in: Limits.checkInKeyBytes)
      try Limits.check(
        "app '\(app.name.prefix(64))' version (bytes)", app.version.utf8.count, in: Limits.checkInValueBytes)
      try Limits.check(
        "app '\(app.name.prefix(64))' reason (bytes)", app.reason?.utf8.count, in: Limits.reportTextBytes)
    }
    if let compatible { try Names.validateTag(compatible) }
    try Limits.check("configVersion (bytes)", configVersion?.utf8.count, in: 1...64)
    if let nextCheckIn, nextCheckIn > now.addingTimeInterval(Double(Limits.deviceTimeout.upperBound)) {
      throw .outOfRange(
        field: "nextCheckIn", value: nextCheckIn.formatted(.iso8601), allowed: "a time within 90 days from now")
    }
  }
}
