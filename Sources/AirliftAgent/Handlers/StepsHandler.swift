import AirliftCore
import Foundation

/// Where a multi-step update may write and how it reboots (agent config key `steps`).
public struct StepsConfig: Codable, Sendable, Equatable {
  /// Folders a download step may put files in (default: the install folder). A path outside them is refused.
  public var directories: [String]?
  /// Reboots the device for a reboot step. Without it the agent exits and its supervisor starts it again.
  public var rebootCommand: [String]?

  public init(directories: [String]? = nil, rebootCommand: [String]? = nil) {
    self.directories = directories
    self.rebootCommand = rebootCommand
  }

  /// What is wrong with the config, for the config's reader; nil when it is usable.
  var problem: String? {
    for folder in directories ?? [] where !folder.hasPrefix("/") || folder.split(separator: "/").contains("..") {
      return "directories must be absolute paths without '..', got '\(folder)'"
    }
    return nil
  }
}

/// The `steps` handler: a multi-step update (a flow's action blocks) run in
/// order on the release's assets — a file put in place, a script run, a
/// health check waited for, its Compose apps updated, a reboot — each with its own answer to failure
/// (stop, roll back the steps done in reverse, continue, retry). The steps
/// before a reboot run as the install, the ones after it as the check once
/// the device is back. What each step did is kept in the update's work
/// folder, so a crash or a reboot in between goes on (or undoes) from there.
public struct StepsHandler: InstallHandler {
  public static let name = HandlerName.steps
  let config: StepsConfig
  let installDirectory: String
  /// Runs the compose steps (the agent's `compose` config).
  let compose: ComposeHandler

  public init(config: StepsConfig, installDirectory: String, compose: ComposeHandler = ComposeHandler()) {
    self.config = config
    self.installDirectory = installDirectory
    self.compose = compose
  }

  /// The compose handler a compose step runs with (its compose file).
  private func compose(_ step: FlowStep) -> ComposeHandler {
    var handler = compose
    handler.composeFile = step.composeFile
    return handler
  }

  /// A compose step's images are fetched in the download phase, as the compose handler does.
  public func prefetch(_ context: InstallContext, progress: @escaping @Sendable (PrefetchProgress) -> Void)
    async throws
  {
    guard let step = context.notice.steps?.first(where: { $0.action == .compose }) else { return }
    try await compose(step).prefetch(context, progress: progress)
  }

  /// The compose steps' apps are kept (current and previous version) once the update is good.
  public func commit(_ context: InstallContext) async throws {
    guard let step = context.notice.steps?.first(where: { $0.action == .compose }) else { return }
    try await compose(step).commit(context)
  }

  /// What the steps did so far.
  struct Record: Codable {
    /// The steps that ran (or failed with `continue`), by index, in the order they ran.
    var done: [Int] = []
    /// For each download step done: where the file it replaced was kept (nil: there was none).
    var replaced: [Int: String?] = [:]
    /// The answer of the step that failed for good.
    var failure: FlowStep.OnFailure?
    /// Whether the reboot step was reached.
    var rebooted = false
  }

  public func needsReboot(for notice: DeploymentNotice) -> Bool {
    notice.steps?.contains { $0.action == .reboot } ?? false
  }

  public func install(_ context: InstallContext) async throws {
    let steps = try steps(context)
    var record = (try? load(context)) ?? Record()
    for (index, step) in steps.enumerated() where !record.done.contains(index) {
      if step.action == .reboot {
        // The rest runs once the device is back (verify).
        record.rebooted = true
        record.done.append(index)
        try save(record, context)
        return
      }
      try await run(index, of: steps, record: &record, context: context)
    }
  }

  public func verify(_ context: InstallContext) async throws {
    let steps = try steps(context)
    var record = (try? load(context)) ?? Record()
    for (index, _) in steps.enumerated() where !record.done.contains(index) {
      try await run(index, of: steps, record: &record, context: context)
    }
  }

  public func reboot() async throws {
    if let reboot = config.rebootCommand {
      try await LocalCommand(role: "steps.rebootCommand", argv: reboot).check(timeout: 300)
    }
  }

  /// Undoes the steps done, newest first — unless the failed step's answer was `stop` (they stay).
  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    guard let record = try? load(context), let steps = context.notice.steps else { return .nothingToUndo }
    if record.failure == .stop { return .nothingToUndo }
    var undone = false
    for index in record.done.reversed() where steps.indices.contains(index) {
      let step = steps[index]
      context.progress(InstallProgress(stage: "undoing step \(index + 1) of \(steps.count): \(step.label)"))
      switch step.action {
      case .download:
        guard let path = step.path, let kept = record.replaced[index] else { continue }
        if let kept {
          try Self.place(kept, at: path)
        } else {
          try? FileManager.default.removeItem(atPath: path)
        }
        undone = true
      case .script:
        guard let undo = step.undo else { continue }
        try await runAsset(step, arguments: undo, index: index, context: context)
        undone = true
      case .compose:
        if try await compose(step).rollback(context) != .nothingToUndo { undone = true }
      case .healthCheck, .reboot:
        continue
      }
    }
    // Files put back under a version that was booted with them: it starts again with the old ones.
    if undone && record.rebooted { return .undoneNeedsReboot }
    return undone ? .undone : .nothingToUndo
  }

  // MARK: Running one step

  /// Runs step `index` with its answer to failure: retried, passed over (`continue`), or recorded and thrown.
  private func run(_ index: Int, of steps: [FlowStep], record: inout Record, context: InstallContext) async throws {
    let step = steps[index]
    let stage = "step \(index + 1) of \(steps.count): \(step.label)"
    let tries = step.onFailure == .retry ? 1 + (step.retries ?? 1) : 1
    var failure: any Error = AgentError.bundle(reason: "not run")
    for attempt in 1...tries {
      context.progress(InstallProgress(stage: attempt == 1 ? stage : "\(stage), try \(attempt) of \(tries)"))
      do {
        try await perform(step, index: index, record: &record, context: context)
        record.done.append(index)
        try save(record, context)
        return
      } catch is CancellationError {
        throw CancellationError()
      } catch {
        failure = error
      }
    }
    let reason = "\(failure)"
    switch step.onFailure ?? .stop {
    case .continue:
      context.progress(InstallProgress(stage: "\(stage) failed, continuing: \(reason.prefix(500))"))
      record.done.append(index)
      try save(record, context)
    case .stop, .retry:
      record.failure = .stop
      try save(record, context)
      throw AgentError.step(number: index + 1, count: steps.count, label: step.label, reason: reason)
    case .rollBack:
      record.failure = .rollBack
      try save(record, context)
      throw AgentError.step(number: index + 1, count: steps.count, label: step.label, reason: reason)
    }
  }

  private func perform(_ step: FlowStep, index: Int, record: inout Record, context: InstallContext) async throws {
    switch step.action {
    case .download:
      guard let path = step.path else { throw AgentError.bundle(reason: "the download step names no path") }
      try checkAllowed(path)
      let source = try asset(step, context)
      if record.replaced[index] == nil {
        // What was there is kept once (a retry or a restart must not keep the new file as "the old one").
        let kept = "\(context.workDirectory)/replaced-\(index)"
        if FileManager.default.fileExists(atPath: path) {
          try? FileManager.default.removeItem(atPath: kept)
          try FileManager.default.copyItem(atPath: path, toPath: kept)
          record.replaced[index] = .some(kept)
        } else {
          record.replaced[index] = .some(nil)
        }
        try save(record, context)
      }
      try Self.place(source, at: path)
    case .script:
      try await runAsset(step, arguments: step.arguments ?? [], index: index, context: context)
    case .healthCheck:
      let deadline = ContinuousClock.now + .seconds(step.seconds)
      while true {
        do {
          try await runAsset(step, arguments: step.arguments ?? [], index: index, context: context)
          return
        } catch let error where ContinuousClock.now < deadline && !(error is CancellationError) {
          try await Task.sleep(for: .seconds(2))
        }
      }
    case .compose:
      // Done once its containers run (and pass their health checks).
      let handler = compose(step)
      try await handler.install(context)
      try await handler.verify(context)
    case .reboot:
      return
    }
  }

  /// Runs the step's asset as a program (copied out of the download folder and made executable).
  private func runAsset(_ step: FlowStep, arguments: [String], index: Int, context: InstallContext) async throws {
    let program = "\(context.workDirectory)/step-\(index)-\(step.asset ?? "program")"
    if !FileManager.default.fileExists(atPath: program) {
      try FileManager.default.copyItem(atPath: try asset(step, context), toPath: program)
    }
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program)
    var environment: [String: String] = [
      "AIRLIFT_DEVICE_ID": context.deviceID.rawValue, "AIRLIFT_DEPLOYMENT": context.notice.deployment,
      "AIRLIFT_PACKAGE": context.notice.release.package, "AIRLIFT_VERSION": context.notice.release.version,
      "AIRLIFT_INSTALL_DIR": context.installDirectory, "AIRLIFT_STEP": "\(index + 1)",
    ]
    for (name, value) in context.notice.parameters {
      try Names.validateParameter(name)
      environment["AIRLIFT_PARAM_\(name)"] = value
    }
    let timeout = step.action == .healthCheck ? 60 : Double(step.seconds)
    try await LocalCommand(role: step.label, argv: [program] + arguments).check(
      environment: environment, workingDirectory: context.workDirectory, timeout: timeout)
  }

  private func asset(_ step: FlowStep, _ context: InstallContext) throws -> String {
    guard let name = step.asset, let path = context.artifacts[name] else {
      throw AgentError.bundle(reason: "the release has no asset '\(step.asset ?? "")' for step '\(step.label)'")
    }
    return path
  }

  /// A download step may write only below the configured folders (the install folder by default).
  private func checkAllowed(_ path: String) throws {
    let folders = config.directories ?? [installDirectory]
    let target = URL(fileURLWithPath: path).standardizedFileURL.path
    guard
      folders.contains(where: { folder in
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path
        return target.hasPrefix(root.hasSuffix("/") ? root : root + "/")
      })
    else {
      throw AgentError.bundle(
        reason: "a download step may write only below \(folders.joined(separator: ", ")) (agent config "
          + "steps.directories), not \(path)")
    }
  }

  /// Puts a copy of `source` at `path` atomically (a new file beside it, then renamed over).
  static func place(_ source: String, at path: String) throws {
    let folder = (path as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let staged = "\(path).airlift-new"
    try? FileManager.default.removeItem(atPath: staged)
    try FileManager.default.copyItem(atPath: source, toPath: staged)
    guard rename(staged, path) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(atPath: staged)
      throw AgentError.storage(path: path, reason: reason)
    }
  }

  private func steps(_ context: InstallContext) throws -> [FlowStep] {
    guard let steps = context.notice.steps, !steps.isEmpty else {
      throw AgentError.bundle(reason: "a deployment of the steps handler lists its steps; this one lists none")
    }
    do {
      try steps.validateSteps(declared: nil, resolved: true)
    } catch {
      throw AgentError.bundle(reason: "\(error)")
    }
    return steps
  }

  private func save(_ record: Record, _ context: InstallContext) throws {
    try InstallRecord<Record>(context: context, name: "steps.json").save(record)
  }

  private func load(_ context: InstallContext) throws -> Record {
    try InstallRecord<Record>(context: context, name: "steps.json").load()
  }
}
