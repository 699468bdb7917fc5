import AirliftCore
import Logging

/// What a handler gets to install one release.
public struct InstallContext: Sendable {
  public var deviceID: DeviceID
  public var notice: DeploymentNotice
  /// Verified artifact files by asset name.
  public var artifacts: [String: String]
  /// A folder for this deployment's scratch files; it survives agent
  /// restarts and is removed when the update ends.
  public var workDirectory: String
  /// The configured install folder.
  public var installDirectory: String
  /// Bytes that must stay free on the disk (the config's `reservedDiskSpace`): unpacking stops short of them.
  public var reservedSpace: Int64 = 0
  /// Tells the controller and local watchers how far the install is (`Installing` reports, throttled).
  public var progress: @Sendable (InstallProgress) -> Void = { _ in }

  public init(
    deviceID: DeviceID, notice: DeploymentNotice, artifacts: [String: String], workDirectory: String,
    installDirectory: String
  ) {
    self.deviceID = deviceID
    self.notice = notice
    self.artifacts = artifacts
    self.workDirectory = workDirectory
    self.installDirectory = installDirectory
  }

  /// The one artifact of a single-bundle handler, or why there is not exactly one.
  func singleArtifact(for handler: String) throws -> String {
    guard let file = artifacts.values.first, artifacts.count == 1 else {
      throw AgentError.bundle(reason: "the \(handler) handler expects exactly one artifact, got \(artifacts.count)")
    }
    return file
  }
}

/// How far an install is, as the handler knows it: bytes of a known total (a slot written, then read back), or
/// the percent a tool prints (RAUC), or only the step it is at (SWUpdate).
public struct InstallProgress: Sendable, Equatable {
  /// What it is doing ("writing slot b"); a new stage is reported at once.
  public var stage: String
  public var bytes: Int64?
  public var total: Int64?
  /// Whole percent of the stage, when the tool counts in percent rather than bytes.
  public var percent: Int?

  public init(stage: String, bytes: Int64? = nil, total: Int64? = nil, percent: Int? = nil) {
    self.stage = stage
    self.bytes = bytes
    self.total = total
    self.percent = percent
  }

  /// The percent to report: the tool's own, else bytes of total, else none.
  public var wholePercent: Int? {
    if let percent { return min(max(percent, 0), 100) }
    guard let bytes, let total, total > 0 else { return nil }
    return ProgressThrottle.percent(bytes, of: total)
  }
}

/// What a rollback did.
public enum RollbackOutcome: Sendable, Equatable {
  /// The install had changed nothing that needed undoing.
  case nothingToUndo
  /// The previous version is active again.
  case undone
  /// The previous version becomes active with the next reboot.
  case undoneNeedsReboot
}

/// What a handler's prefetch has transferred so far, reported like a download.
public struct PrefetchProgress: Sendable, Equatable {
  /// What it is doing ("pulling registry/app@sha256:…").
  public var stage: String
  public var bytes: Int64
  /// The bytes it knows it will transfer; grows as the engine learns more.
  public var total: Int64
  /// A milestone (a pull's end) that skips the progress throttle.
  public var final: Bool

  public init(stage: String, bytes: Int64, total: Int64, final: Bool = false) {
    self.stage = stage
    self.bytes = bytes
    self.total = total
    self.final = final
  }
}

/// An install method (`script`, `directory`, `ab-slot` …). The update state
/// machine calls these in order — install, (reboot), verify, commit, or
/// rollback — so adding a handler never touches the state machine.
public protocol InstallHandler: Sendable {
  static var name: String { get }
  /// Whether a successful install needs a reboot before `verify`.
  var needsReboot: Bool { get }
  /// Whether installing `notice` needs a reboot before `verify` (a multi-step update with a reboot step);
  /// `needsReboot` unless the handler says otherwise.
  func needsReboot(for notice: DeploymentNotice) -> Bool
  /// Fetches what the install needs beyond the downloaded assets (a compose
  /// app's images), in the download phase: nothing on the device has
  /// changed yet, a failure is a download failure (retried when it may
  /// help), and the bytes it transfers are reported as download progress.
  /// Must be safe to repeat; the install may not rely on it having run.
  func prefetch(_ context: InstallContext, progress: @escaping @Sendable (PrefetchProgress) -> Void) async throws
  /// Installs the release; throws on failure (the update then rolls back).
  func install(_ context: InstallContext) async throws
  /// Checks that the installed release works (after the reboot, if any).
  func verify(_ context: InstallContext) async throws
  /// Makes the verified release permanent. Must be safe to repeat.
  func commit(_ context: InstallContext) async throws
  /// Undoes this release's install, also after a crash in the middle of it.
  func rollback(_ context: InstallContext) async throws -> RollbackOutcome
  /// Switches `package` back to the version before the installed one, with
  /// no deployment (the operator's `airlift device rollback`).
  func rollBackToPrevious(package: String, installDirectory: String) async throws -> RollbackOutcome
  /// Restarts the device into the new version (the agent exits afterwards).
  func reboot() async throws
  /// Tells the bootloader the running version is good, once per agent start when no update of the handler is
  /// on trial any more (RAUC's boot schemes count down every boot, not only a new slot's: unconfirmed, the next
  /// reboot would fall back to the other slot's older version).
  func confirmRunningVersion() async throws
  /// What the handler runs besides the packages the agent records (a
  /// compose app's name → version), reported in every check-in.
  func inventory(installDirectory: String) -> [String: String]
  /// The apps the handler runs with their state now, for check-ins.
  func appStates(installDirectory: String) async -> [AppState]
  /// The assets of `notice` this device must download (nil: all of them);
  /// a compose device skips the bundles of apps it already runs.
  func assetsNeeded(for notice: DeploymentNotice, installDirectory: String) -> Set<String>?
  /// Writes to `path` what a delta may take chunks from when the device kept no earlier asset of `package`
  /// (the directory handler: its `current` tree as a tar); false when the handler has nothing. The caller
  /// removes the file.
  func deltaSeed(package: String, installDirectory: String, into path: String) async -> Bool
  /// Where `artifact` is written as it downloads instead of a file on the data disk (an A/B image streamed into
  /// the inactive slot); nil: the download folder, as usual. `fitsOnDataDisk` says whether the data disk has room
  /// for it. Refuses a target that cannot take it.
  func streamTarget(for artifact: ArtifactRef, context: InstallContext, fitsOnDataDisk: Bool) async throws -> String?
}

extension InstallHandler {
  public var needsReboot: Bool { false }
  public func needsReboot(for notice: DeploymentNotice) -> Bool { needsReboot }
  public func prefetch(_ context: InstallContext, progress: @escaping @Sendable (PrefetchProgress) -> Void) async throws
  {}
  public func verify(_ context: InstallContext) async throws {}
  public func commit(_ context: InstallContext) async throws {}
  public func reboot() async throws {}
  public func confirmRunningVersion() async throws {}
  public func inventory(installDirectory: String) -> [String: String] { [:] }
  public func appStates(installDirectory: String) async -> [AppState] { [] }
  public func assetsNeeded(for notice: DeploymentNotice, installDirectory: String) -> Set<String>? { nil }
  public func deltaSeed(package: String, installDirectory: String, into path: String) async -> Bool { false }
  public func streamTarget(
    for artifact: ArtifactRef, context: InstallContext, fitsOnDataDisk: Bool
  ) async throws -> String? { nil }
  public func rollBackToPrevious(package: String, installDirectory: String) async throws -> RollbackOutcome {
    throw AgentError.rollbackUnsupported(handler: Self.name)
  }
}

/// The handlers this agent knows, chosen by the deployment's `handler` name.
public struct InstallHandlers: Sendable {
  private let handlers: [String: any InstallHandler]

  public init(_ handlers: [any InstallHandler]) {
    self.handlers = Dictionary(uniqueKeysWithValues: handlers.map { (type(of: $0).name, $0) })
  }

  /// `script`, `directory` and `compose`, `ab-slot` when the config describes the slots, and `swupdate` when it
  /// says how to run SWUpdate too.
  public static func standard(_ config: AgentConfig) -> InstallHandlers {
    let compose = ComposeHandler(config: config.compose ?? ComposeConfig())
    var list: [any InstallHandler] = [ScriptHandler(), DirectoryHandler(), compose]
    if let slots = config.abSlot { list.append(ABSlotHandler(config: slots)) }
    if let slots = config.abSlot, let swupdate = config.swupdate {
      list.append(SWUpdateHandler(slots: slots, config: swupdate))
    }
    if let rauc = config.rauc { list.append(RAUCHandler(config: rauc)) }
    list.append(
      StepsHandler(config: config.steps ?? StepsConfig(), installDirectory: config.installDirectory, compose: compose))
    return InstallHandlers(list)
  }

  public var names: [String] { handlers.keys.sorted() }

  /// Every handler confirms the running version to its bootloader; a failure is logged, the start goes on.
  func confirmRunningVersion(logger: Logger) async {
    for name in names {
      do {
        try await handlers[name]!.confirmRunningVersion()
      } catch {
        logger.error("could not confirm the running version to the \(name) handler's bootloader: \(error)")
      }
    }
  }

  /// Every handler's apps and their state.
  public func appStates(installDirectory: String) async -> [AppState] {
    var states: [AppState] = []
    for name in names { states += await handlers[name]!.appStates(installDirectory: installDirectory) }
    return states
  }

  /// Every handler's inventory, merged.
  public func inventory(installDirectory: String) -> [String: String] {
    handlers.values.reduce(into: [:]) { all, handler in
      all.merge(handler.inventory(installDirectory: installDirectory)) { first, _ in first }
    }
  }

  public func handler(named name: String) throws(AgentError) -> any InstallHandler {
    guard let handler = handlers[name] else { throw .unknownHandler(name, available: names) }
    return handler
  }
}
