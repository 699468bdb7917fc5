import Foundation

/// One action block of a multi-step update (a flow's `steps`): the device
/// runs the steps in order, each with its own action and its own answer to
/// failure. Everything a step runs or installs is an asset of the signed
/// release (a script, a file, its Compose apps); what the steps say besides
/// (order, paths, arguments, failure answers) comes from the controller and
/// is checked on the device (docs/security.md).
public struct FlowStep: Codable, Sendable, Equatable {
  /// What a step does.
  public enum Action: String, Codable, Sendable, CaseIterable {
    /// Puts the release asset `asset` at `path` (atomically; undone by putting back what was there).
    case download
    /// Runs the release asset `asset` as a program with `arguments` (undone by running it with `undo`).
    case script
    /// Restarts the device; the steps after it run once it is back.
    case reboot
    /// Runs the release asset `asset` with `arguments` until it exits 0, for at most `timeout` seconds.
    case healthCheck = "health-check"
    /// Updates the release's Compose apps (as the `compose` handler does), each run from `composeFile` in its
    /// bundle when given; done once its containers run. Undone by starting each app's previous version again.
    case compose
  }

  /// What a failed step leads to.
  public enum OnFailure: String, Codable, Sendable, CaseIterable {
    /// The update ends `Failed` here; the steps done stay as they are.
    case stop
    /// The steps done are undone in reverse order; the update ends `RolledBack`.
    case rollBack = "roll-back"
    /// The failure is reported and the next step runs.
    case `continue`
    /// The step runs again, up to `retries` more times; then it stops.
    case retry
  }

  /// What reports show ("restart the app"); the action (`compose update` for compose) when nil.
  public var name: String?
  public var action: Action
  public var asset: String?
  public var path: String?
  public var arguments: [String]?
  public var undo: [String]?
  /// For `compose`: the compose file in each app's bundle (default: compose.yaml or docker-compose.yml).
  public var composeFile: String?
  /// Seconds the step may take (1 to 86,400; default 600).
  public var timeout: Int?
  public var onFailure: OnFailure?
  /// For `retry`: runs after the first (1 to 10).
  public var retries: Int?

  public init(
    name: String? = nil, action: Action, asset: String? = nil, path: String? = nil, arguments: [String]? = nil,
    undo: [String]? = nil, composeFile: String? = nil, timeout: Int? = nil, onFailure: OnFailure? = nil,
    retries: Int? = nil
  ) {
    self.name = name
    self.action = action
    self.asset = asset
    self.path = path
    self.arguments = arguments
    self.undo = undo
    self.composeFile = composeFile
    self.timeout = timeout
    self.onFailure = onFailure
    self.retries = retries
  }

  /// One line for people: what it does, on what, and what a failure leads to
  /// (`download config.json → /opt/app/config.json (on failure: roll-back)`).
  public var summary: String {
    var text = action.rawValue
    if let name, name != action.rawValue { text = "\(name): \(text)" }
    if let asset { text += " \(asset)" }
    if let path { text += " → \(path)" }
    if let composeFile { text += " -f \(composeFile)" }
    if let arguments, !arguments.isEmpty { text += " " + arguments.joined(separator: " ") }
    if action == .healthCheck { text += " (up to \(seconds) s)" }
    let failure = onFailure ?? .stop
    text += " (on failure: \(failure.rawValue)" + (failure == .retry ? " \(retries ?? 1)×" : "") + ")"
    return text
  }

  /// The label reports use.
  public var label: String { name ?? (action == .compose ? "compose update" : action.rawValue) }
  /// Seconds the step may take.
  public var seconds: Int { timeout ?? 600 }

  public static let timeouts: ClosedRange<Int> = 1...86_400
  public static let retryCounts: ClosedRange<Int> = 1...10
  /// Steps in one flow.
  public static let counts: ClosedRange<Int> = 1...50

  /// The `${NAME}` references in the step's text fields.
  public var references: Set<String> {
    var names = Set<String>()
    for text in texts { names.formUnion(Self.references(in: text)) }
    return names
  }

  private var texts: [String] {
    [name, asset, path, composeFile].compactMap { $0 } + (arguments ?? []) + (undo ?? [])
  }

  /// The step with each `${NAME}` replaced by its value; a name with no value is an error.
  public func resolved(_ values: [String: String]) throws(FlowStepError) -> FlowStep {
    func fill(_ text: String?) throws(FlowStepError) -> String? {
      guard let text else { return nil }
      return try Self.substitute(text, values)
    }
    var step = self
    step.name = try fill(name)
    step.asset = try fill(asset)
    step.path = try fill(path)
    step.composeFile = try fill(composeFile)
    if let arguments {
      step.arguments = try arguments.map { (text) throws(FlowStepError) in try Self.substitute(text, values) }
    }
    if let undo { step.undo = try undo.map { (text) throws(FlowStepError) in try Self.substitute(text, values) } }
    return step
  }

  /// Checks a step on its own (after `resolved` when `resolved` is true: then no `${…}` may be left):
  /// what each action needs, paths, ranges.
  public func validate(resolved: Bool) throws(FlowStepError) {
    func invalid(_ reason: String) -> FlowStepError { .invalid(step: label, reason: reason) }
    if let timeout, !Self.timeouts.contains(timeout) {
      throw invalid("timeout is \(timeout) s, out of range: give 1 to 86400")
    }
    if let retries {
      guard onFailure == .retry else { throw invalid("retries belong to onFailure retry") }
      guard Self.retryCounts.contains(retries) else { throw invalid("retries is \(retries): give 1 to 10") }
    }
    if let name, name.isEmpty || name.utf8.count > 100 { throw invalid("the name must be 1 to 100 bytes") }
    let needsAsset: Set<Action> = [.download, .script, .healthCheck]
    if needsAsset.contains(action), asset?.isEmpty != false {
      throw invalid("a \(action.rawValue) step names its asset")
    }
    if action == .reboot || action == .compose, asset != nil || path != nil || arguments != nil || undo != nil {
      throw invalid("a \(action.rawValue) step takes no asset, path, arguments or undo")
    }
    if action != .compose, composeFile != nil { throw invalid("only a compose step has a composeFile") }
    if action == .download, path?.isEmpty != false { throw invalid("a download step names the path to put it at") }
    if action != .download, path != nil { throw invalid("only a download step has a path") }
    if action != .script, undo != nil { throw invalid("only a script step has undo arguments") }
    for text in texts where text.utf8.count > 4096 || text.contains("\0") {
      throw invalid("a field is longer than 4096 bytes or holds a NUL byte")
    }
    guard resolved else { return }
    if let left = texts.first(where: { !Self.references(in: $0).isEmpty }) {
      throw invalid("'\(left)' still names a parameter")
    }
    if let asset {
      do { try Names.validateAssetName(asset) } catch { throw invalid("asset: \(error)") }
    }
    if let composeFile {
      guard !composeFile.isEmpty, !composeFile.hasPrefix("/"),
        !composeFile.split(separator: "/").contains(where: { $0 == ".." || $0 == "." })
      else { throw invalid("composeFile '\(composeFile)' must be a relative path inside the app's bundle") }
    }
    if let path {
      guard path.hasPrefix("/"), !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }),
        !path.hasSuffix("/")
      else { throw invalid("path '\(path)' must be an absolute file path without . or .. parts") }
    }
  }

  /// The names `${NAME}` in `text`.
  static func references(in text: String) -> Set<String> {
    var names = Set<String>()
    var rest = text[...]
    while let open = rest.range(of: "${") {
      guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
      names.insert(String(rest[open.upperBound..<close]))
      rest = rest[rest.index(after: close)...]
    }
    return names
  }

  static func substitute(_ text: String, _ values: [String: String]) throws(FlowStepError) -> String {
    var result = ""
    var rest = text[...]
    while let open = rest.range(of: "${") {
      guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
      let name = String(rest[open.upperBound..<close])
      guard let value = values[name] else { throw .noValue(name) }
      result += rest[..<open.lowerBound] + value
      rest = rest[rest.index(after: close)...]
    }
    return result + rest
  }
}

/// Why a step cannot be stored, run or carried out.
public enum FlowStepError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalid(step: String, reason: String)
  case unknownParameter(String)
  case noValue(String)

  public var description: String {
    switch self {
    case .invalid(let step, let reason): return "step '\(step)': \(reason)"
    case .unknownParameter(let name): return "'${\(name)}' names no parameter the flow declares"
    case .noValue(let name): return "'${\(name)}' has no value in this run: give --param \(name)=VALUE"
    }
  }
}

extension Array where Element == FlowStep {
  /// Checks a list of steps: its length, each step, at most one reboot, and (when `declared` is given) that
  /// every `${NAME}` is a declared parameter.
  public func validateSteps(declared: Set<String>?, resolved: Bool) throws(FlowStepError) {
    guard FlowStep.counts.contains(count) else {
      throw .invalid(step: "steps", reason: "a flow has 1 to 50 steps, got \(count)")
    }
    for step in self { try step.validate(resolved: resolved) }
    if filter({ $0.action == .reboot }).count > 1 {
      throw .invalid(step: "reboot", reason: "a flow reboots at most once")
    }
    if let declared, let unknown = flatMap(\.references).sorted().first(where: { !declared.contains($0) }) {
      throw .unknownParameter(unknown)
    }
  }
}
