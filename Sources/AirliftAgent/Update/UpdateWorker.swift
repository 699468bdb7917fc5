import AirliftCore
import Foundation
import Logging
import NIOCore
import Synchronization

/// Work for the update worker, in arrival order.
enum UpdateJob: Sendable {
  case deploy(DeploymentNotice)
  /// The operator asked to switch a package back to its previous version.
  case rollBack(DeviceCommand)
}

/// Drives updates through `UpdateMachine`, one at a time: it stores each
/// step (and queues its report) before it runs the step's effects — the
/// download, the waits, the handler's install, reboot, verify, commit or
/// rollback — and feeds each effect's outcome back in as the next event.
/// On start it first settles what a previous run left unfinished.
actor UpdateWorker {
  let deviceID: DeviceID
  let store: AgentStore
  let downloader: ArtifactDownloader
  let handlers: InstallHandlers
  let config: AgentConfig
  let outbox: Outbox
  let events: EventHub
  private let backoff: Backoff
  /// What deadlines, waits and retries are measured on, and the date windows are read at.
  let clock: AgentClock
  /// Spreads the retries of devices that failed together.
  private let jitter: Jitter
  private let limits: UpdateLimits
  private let gates: UpdateGates
  let logger: Logger
  let onChange: @Sendable () async -> Void
  let onReboot: @Sendable () -> Void
  /// An update asked for a reboot: this start of the agent takes no more work.
  var rebootRequested = false
  /// Returns once the controller can be reached (or when cancelled).
  private let controllerContact: @Sendable () async -> Void
  /// Runs before a reboot: gives the stored reports a bounded chance to reach the controller first.
  let beforeReboot: @Sendable () async -> Void
  private let queue: AsyncStream<UpdateJob>
  private let enqueue: AsyncStream<UpdateJob>.Continuation
  /// The deployment the device was last told to run: a waiting update that is not it gives way.
  private let desired = Mutex<String?>(nil)
  nonisolated let consent = ConsentBox()
  /// When each running download must have finished, on `clock`.
  var downloadDeadline: [String: Duration] = [:]
  /// What each running update's download has cost so far (stored with each progress report, so a restart
  /// carries on counting).
  var tallies: [String: TransferTally] = [:]
  /// The process groups of the commands updates run, so a restart can end what a killed agent left running.
  let ledger: ProcessLedger
  /// Why the last transition could not be stored (a full data disk), until one can be again; the check-in says it.
  nonisolated let storageProblem = Mutex<String?>(nil)

  init(
    deviceID: DeviceID, store: AgentStore, downloader: ArtifactDownloader, handlers: InstallHandlers,
    config: AgentConfig, outbox: Outbox, events: EventHub, logger: Logger, clock: AgentClock = .system,
    jitter: Jitter = .system, controllerContact: @escaping @Sendable () async -> Void = {},
    beforeReboot: @escaping @Sendable () async -> Void = {},
    onChange: @escaping @Sendable () async -> Void, onReboot: @escaping @Sendable () -> Void
  ) {
    self.controllerContact = controllerContact
    self.beforeReboot = beforeReboot
    self.deviceID = deviceID
    self.clock = clock
    self.jitter = jitter
    self.store = store
    self.downloader = downloader
    self.handlers = handlers
    self.config = config
    self.outbox = outbox
    self.events = events
    backoff = Backoff(base: config.retryBaseDelay, maximum: config.retryMaxDelay, maxAttempts: config.maxAttempts)
    limits = UpdateLimits(maxAttempts: config.maxAttempts, maxBoots: config.maxBoots)
    gates = UpdateGates(config: config, consent: consent)
    ledger = ProcessLedger(store: store, marker: config.dataDirectory, logger: logger)
    self.logger = logger
    self.onChange = onChange
    self.onReboot = onReboot
    (queue, enqueue) = AsyncStream.makeStream()
  }

  /// Queues a notice; duplicates and finished deployments are skipped when
  /// their turn comes (QoS 1 may deliver twice; HTTPS and MQTT both deliver).
  nonisolated func submit(_ notice: DeploymentNotice) {
    desired.withLock { $0 = notice.deployment }
    enqueue.yield(.deploy(notice))
  }

  nonisolated func submit(_ command: DeviceCommand) {
    enqueue.yield(.rollBack(command))
  }

  /// Processes queued work until cancelled; first settles what a previous
  /// run left unfinished (a download resumes, a reboot is verified, an
  /// interrupted install is rolled back).
  func run() async {
    // Before anything else: a command a killed agent left running must not race what comes next.
    await ledger.settle()
    let unfinished: [UpdateRecord]
    do {
      unfinished = try store.unfinishedUpdates()
    } catch {
      logger.critical("could not read the agent state: \(error)")
      return
    }
    for record in unfinished {
      logger.info(
        "deployment \(record.notice.deployment) was \(record.progress.phase.rawValue) when the agent stopped",
        metadata: record.notice.logMetadata)
      await drive(record.notice, from: record.progress, on: Self.resumption(of: record))
      if Task.isCancelled { return }
      if rebootRequested { break }
    }
    // No update is on trial any more (or a reboot into another version is under way): the running version is
    // the good one.
    if !rebootRequested { await handlers.confirmRunningVersion(logger: logger) }
    for await job in queue {
      if Task.isCancelled { return }
      // After a reboot was asked for, nothing more runs in this start (the agent is stopping for it): a notice
      // delivered again meanwhile would otherwise verify the new version before the device booted it.
      if rebootRequested { continue }
      switch job {
      case .deploy(let notice): await process(notice)
      case .rollBack(let command): await rollBack(command)
      }
    }
  }

  /// How a stored, unfinished update goes on: where it stopped, unless what
  /// it stored is out of range (written by an older agent, or forged), when
  /// it ends there (a rollback, once begun, still finishes).
  static func resumption(of record: UpdateRecord) -> UpdateEvent {
    guard record.progress.phase != .rollingBack else { return .agentStarted }
    do {
      try record.notice.validate()
      return .agentStarted
    } catch {
      return .abandoned(reason: "the stored deployment cannot be carried out: \(error)")
    }
  }

  private func process(_ notice: DeploymentNotice) async {
    if let existing = try? store.update(notice.key) {
      if !existing.progress.phase.isFinished {
        await drive(notice, from: existing.progress, on: Self.resumption(of: existing))
      }
      return
    }
    let installed = (try? store.installed())?[notice.release.package]
    do {
      try notice.validate()
      try ReleaseVerifier.check(
        notice, installed: installed, trustedKeys: config.trustedKeys, compatible: config.compatible, now: clock.date)
    } catch {
      logger.error("deployment \(notice.deployment): \(error)", metadata: notice.logMetadata)
      await drive(notice, from: UpdateProgress(), on: .refused(reason: "\(error)"))
      return
    }
    await drive(notice, from: UpdateProgress(), on: .begin(alreadyInstalled: installed == notice.release.version))
  }

  /// Whether the controller can be reached within `seconds` (on the worker's clock).
  private func reachesController(within seconds: Double) async -> Bool {
    await withTaskGroup(of: Bool.self) { [controllerContact, clock] group in
      group.addTask {
        await controllerContact()
        return !Task.isCancelled
      }
      group.addTask {
        try? await clock.sleep(for: .seconds(seconds))
        return false
      }
      let first = await group.next() ?? false
      group.cancelAll()
      return first
    }
  }

  /// Runs the machine from `progress` until the update ends, waits for a
  /// restart (reboot), or the agent stops.
  private func drive(_ notice: DeploymentNotice, from progress: UpdateProgress, on event: UpdateEvent) async {
    var progress = progress
    var event = event
    while true {
      guard let step = UpdateMachine.next(progress, on: event, limits: limits) else {
        logger.warning(
          "deployment \(notice.deployment): \(event) does not apply in \(progress.phase.rawValue)",
          metadata: notice.logMetadata)
        return
      }
      guard save(notice, step) else {
        // Its effects would run with no record of them: stop here. The stored phase is where it goes on
        // once the state can be written (the next delivery of this deployment, or the next start).
        return
      }
      progress = step.progress
      var next: UpdateEvent?
      for effect in step.effects {
        if Task.isCancelled { return }
        let outcome = await ProcessLedger.$current.withValue(ledger) {
          await perform(effect, notice: notice, progress: progress)
        }
        if let outcome { next = outcome }
      }
      // Stopped mid-effect: the stored phase is where the next start picks up.
      guard let next, !Task.isCancelled else { return }
      event = next
    }
  }

  private func perform(_ effect: UpdateEffect, notice: DeploymentNotice, progress: UpdateProgress) async
    -> UpdateEvent?
  {
    switch effect {
    case .awaitDownloadPermission:
      return await waitUntilAllowed(.download, notice: notice, progress: progress, permitted: .downloadPermitted)
    case .download(let attempt):
      return await download(notice, attempt: attempt)
    case .waitBeforeRetry(let attempt):
      let delay = backoff.delay(before: attempt, random: jitter())
      if let deadline = downloadDeadline[notice.deployment], clock.now + .seconds(delay) > deadline {
        return .abandoned(
          reason: AgentError.timedOut(
            stage: "the download", seconds: notice.timeouts.download, last: progress.error ?? "none"
          ).description)
      }
      logger.warning(
        "attempt \(attempt - 1) failed: \(progress.error ?? "?"); retrying in \(Backoff.describe(delay))",
        metadata: notice.logMetadata)
      do {
        try await clock.sleep(for: .seconds(delay))
      } catch {
        return nil
      }
      return .retryDue
    case .awaitInstallPermission:
      return await waitUntilAllowed(.install, notice: notice, progress: progress, permitted: .installPermitted)
    case .install:
      return await install(notice, attempt: progress.attempt)
    case .reboot:
      if await waitUntilAllowed(.reboot, notice: notice, progress: progress, permitted: .retryDue) == nil { return nil }
      await beforeReboot()
      do {
        try await handler(notice).reboot()
      } catch {
        logger.error(
          "reboot of the device failed: \(error); the agent exits so its supervisor restarts it",
          metadata: notice.logMetadata)
      }
      logger.notice("restarting for deployment \(notice.deployment)", metadata: notice.logMetadata)
      rebootRequested = true
      onReboot()
      return nil
    case .verify:
      do {
        let handler = try handler(notice)
        var checking = try context(notice)
        checking.progress = installReporter(notice, attempt: progress.attempt, state: .verifying)
        try await handler.verify(checking)
        // A version that boots and passes its checks but cannot be managed is given up as well: committed, it
        // could not be updated or rolled back from afar again.
        if handler.needsReboot(for: notice), await !reachesController(within: config.commitTimeout) {
          return .verifyFailed(
            reason:
              "the controller was not reached within \(Int(config.commitTimeout)) s of the new version's start (commitTimeout): not committed"
          )
        }
        return .verifySucceeded
      } catch {
        return .verifyFailed(reason: "\(error)")
      }
    case .commit:
      do {
        try await handler(notice).commit(context(notice))
        return .committed
      } catch {
        return .verifyFailed(reason: "commit failed: \(error)")
      }
    case .rollBack:
      do {
        logger.error("rolling back \(notice.release): \(progress.error ?? "")", metadata: notice.logMetadata)
        switch try await handler(notice).rollback(context(notice)) {
        case .nothingToUndo: return .rollbackFinished(undone: false, needsReboot: false)
        case .undone: return .rollbackFinished(undone: true, needsReboot: false)
        case .undoneNeedsReboot: return .rollbackFinished(undone: true, needsReboot: true)
        }
      } catch {
        return .rollbackFailed(reason: "\(error)")
      }
    case .cleanUp:
      if progress.phase == .successful { keepAssets(of: notice) }
      try? FileManager.default.removeItem(atPath: workDirectory(notice))
      for artifact in notice.artifacts { downloader.cleanUp(artifact) }
      downloadDeadline[notice.deployment] = nil
      tallies[notice.deployment] = nil
      try? store.forgetTransfer(deployment: notice.deployment)
      consent.wait(for: nil)
      logger.info(
        "deployment \(notice.deployment) ended \(progress.phase.reported.rawValue)", metadata: notice.logMetadata)
      // Not awaited: telling the controller waits for the link, and a reboot after a rollback must not wait for
      // a controller the new version could not reach.
      Task { [onChange] in await onChange() }
      return nil
    }
  }

  /// Waits until nothing blocks `step`, reporting each new reason once; a
  /// newer deployment ends the wait. A failed precondition is run again
  /// only after `recheckInterval`.
  private func waitUntilAllowed(
    _ step: UpdateGates.Step, notice: DeploymentNotice, progress: UpdateProgress, permitted: UpdateEvent
  ) async -> UpdateEvent? {
    var reported: String?
    var failedPrecondition: (checked: Duration, reason: String)?
    let poll = min(config.recheckInterval, 1)
    while !Task.isCancelled {
      if step != .reboot, let newer = desired.withLock({ $0 }), newer != notice.deployment {
        return .abandoned(reason: "replaced by deployment \(newer) before it was installed")
      }
      var reason = gates.blocker(step, deployment: notice.deployment, now: clock.date)
      if reason == nil, step != .reboot {
        if let last = failedPrecondition, clock.now - last.checked < .seconds(config.recheckInterval) {
          reason = last.reason
        } else if let failure = await gates.precondition(step, notice: notice) {
          failedPrecondition = (clock.now, failure)
          reason = failure
        }
      }
      guard let reason else {
        consent.wait(for: nil)
        return permitted
      }
      if step == .install && (config.consent || consent.isHeld(notice.deployment)) {
        consent.wait(for: notice.deployment)
      }
      if reason != reported {
        reported = reason
        logger.info("deployment \(notice.deployment): \(reason)", metadata: notice.logMetadata)
        note(notice, progress, stage: reason, event: reason.hasPrefix("ready:") ? "ready" : "device:update")
      }
      try? await clock.sleep(for: .seconds(poll))
    }
    return nil
  }

  private func install(_ notice: DeploymentNotice, attempt: Int) async -> UpdateEvent? {
    if let local = consent.takeLocalResult(notice.deployment) { return Self.appliedLocally(local) }
    do {
      let handler = try handler(notice)
      var prepared = try context(notice)
      prepared.progress = installReporter(notice, attempt: attempt)
      let context = prepared
      try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
      try await clock.withTimeout(Limits.duration(seconds: notice.timeouts.install, in: Limits.stageTimeout)) {
        try await handler.install(context)
      }
      return .installSucceeded(needsReboot: handler.needsReboot(for: notice))
    } catch is CancellationError {
      if Task.isCancelled { return nil }
      return .abandoned(reason: "the install did not finish within the deployment's \(notice.timeouts.install) s")
    } catch {
      return .installFailed(reason: "\(error)")
    }
  }

  func handler(_ notice: DeploymentNotice) throws -> any InstallHandler {
    try handlers.handler(named: notice.handler)
  }

  func workDirectory(_ notice: DeploymentNotice) -> String {
    "\(config.dataDirectory)/work/\(notice.key)"
  }

  func context(_ notice: DeploymentNotice) throws -> InstallContext {
    var files: [String: String] = [:]
    let skipsSome = (try? handler(notice))?.assetsNeeded(for: notice, installDirectory: config.installDirectory) != nil
    for artifact in notice.artifacts {
      // An image streamed into its slot while it downloaded is there, not on the data disk.
      let streamed = downloader.streamRecord(artifact).flatMap { $0.done ? $0.target : nil }
      let path = streamed ?? downloader.finalPath(artifact)
      // A handler that downloads only some assets gets only those.
      if skipsSome && !FileManager.default.fileExists(atPath: path) { continue }
      files[artifact.name] = path
    }
    var context = InstallContext(
      deviceID: deviceID, notice: notice, artifacts: files, workDirectory: workDirectory(notice),
      installDirectory: config.installDirectory)
    context.reservedSpace = config.reservedDiskSpace
    return context
  }

  /// Stores a step (queuing its report when it is a new state) and tells
  /// local watchers; false when it could not be stored (then nothing of it
  /// may happen, and the check-in says why).
  private func save(_ notice: DeploymentNotice, _ step: UpdateStep) -> Bool {
    let report = makeReport(notice, step.progress, stage: step.stage)
    do {
      try store.save(
        notice, progress: step.progress, report: step.reports ? report : nil, topic: Topics.device(deviceID, .status))
    } catch {
      let problem =
        "the agent cannot store its state (\(Self.describe(error))): deployment \(notice.deployment) stopped before \(step.progress.phase.reported.rawValue)"
      logger.critical("\(problem)", metadata: notice.logMetadata)
      storageProblem.withLock { $0 = problem }
      Task { await onChange() }
      return false
    }
    storageProblem.withLock { $0 = nil }
    if step.reports {
      outbox.wake()
      events.publish(DeviceUpdateEvent(notice: notice, report: report))
    }
    return true
  }

  private static func describe(_ error: any Error) -> String {
    let text = "\(error)"
    return text.contains("SQLITE_FULL") || text.contains("disk is full") ? "the data disk is full" : text
  }

  /// Reports why the update waits, without changing its state.
  private func note(_ notice: DeploymentNotice, _ progress: UpdateProgress, stage: String, event: String) {
    let report = makeReport(notice, progress, stage: stage)
    try? store.enqueue(report: report, topic: Topics.device(deviceID, .status))
    outbox.wake()
    var update = DeviceUpdateEvent(notice: notice, report: report, event: event)
    if event == "ready" {
      update.files = (try? context(notice))?.artifacts
      consent.ready = update
    }
    events.publish(update)
  }

  private func makeReport(_ notice: DeploymentNotice, _ progress: UpdateProgress, stage: String?) -> StatusReport {
    let total = notice.artifacts.totalSize
    let state = progress.phase.reported
    let complete = state == .downloaded || state == .successful
    var report = StatusReport(
      deployment: notice.deployment, state: state, stage: stage,
      bytes: complete ? total : (state == .downloading ? 0 : nil), total: total,
      percent: complete ? 100 : (state == .downloading && progress.attempt == 1 ? 0 : nil),
      attempt: progress.attempt,
      error: state == .failed || state == .retrying || state == .rolledBack
        ? progress.error : nil)
    report.round = notice.round
    if state == .downloaded, let tally = tallies[notice.deployment] {
      report.fetched = tally.fetched
      report.reused = tally.reused > 0 ? tally.reused : nil
    }
    return report
  }
}

extension DeploymentNotice {
  /// The fields a log line about this deployment carries (`--log-format json`).
  var logMetadata: Logger.Metadata {
    ["deployment": .string(deployment), "release": .string(release.description)]
  }
}
