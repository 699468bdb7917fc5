import AirliftCore
import Foundation
import Logging
import NIOCore

/// Carries out deployments one at a time: download, verify, install,
/// report. Every state is stored (with its report queued) before the work it
/// starts, so a restart knows where it stopped.
actor UpdateWorker {
  private let deviceID: DeviceID
  private let store: AgentStore
  private let downloader: ArtifactDownloader
  private let handlers: InstallHandlers
  private let config: AgentConfig
  private let outbox: Outbox
  private let events: EventHub
  private let backoff: Backoff
  private let logger: Logger
  private let onInstalled: @Sendable () async -> Void
  private let queue: AsyncStream<DeploymentNotice>
  private let enqueue: AsyncStream<DeploymentNotice>.Continuation

  init(
    deviceID: DeviceID, store: AgentStore, downloader: ArtifactDownloader, handlers: InstallHandlers,
    config: AgentConfig, outbox: Outbox, events: EventHub, logger: Logger,
    onInstalled: @escaping @Sendable () async -> Void
  ) {
    self.deviceID = deviceID
    self.store = store
    self.downloader = downloader
    self.handlers = handlers
    self.config = config
    self.outbox = outbox
    self.events = events
    backoff = Backoff(base: config.retryBaseDelay, maximum: config.retryMaxDelay, maxAttempts: config.maxAttempts)
    self.logger = logger
    self.onInstalled = onInstalled
    (queue, enqueue) = AsyncStream.makeStream()
  }

  /// Queues a notice; duplicates and finished deployments are skipped when
  /// their turn comes (QoS 1 may deliver twice; HTTPS and MQTT both deliver).
  nonisolated func submit(_ notice: DeploymentNotice) {
    enqueue.yield(notice)
  }

  /// Processes queued notices until cancelled; first settles what a previous
  /// run left unfinished.
  func run() async {
    resumeUnfinished()
    for await notice in queue {
      if Task.isCancelled { return }
      await process(notice)
    }
  }

  /// One case per stored state: before the install started, it is safe to
  /// start again from the download (only verified bytes are ever used); once
  /// the install had started, the script's outcome is unknown, so it is
  /// reported as failed rather than run twice.
  private func resumeUnfinished() {
    let unfinished: [UpdateRecord]
    do {
      unfinished = try store.unfinishedUpdates()
    } catch {
      logger.error("could not read the agent state: \(error)")
      return
    }
    for record in unfinished {
      switch record.state {
      case .pending, .downloading, .downloaded, .retrying:
        logger.info("resuming deployment \(record.notice.deployment) from \(record.state.rawValue)")
        submit(record.notice)
      case .installing, .rebooting, .verifying:
        report(
          record.notice, .failed, error: AgentError.interrupted(state: record.state.rawValue.lowercased()).description)
      case .successful, .failed, .rolledBack:
        break
      }
    }
  }

  private func process(_ notice: DeploymentNotice) async {
    let existing = try? store.update(notice.deployment)
    if let existing, existing.state.isTerminal {
      logger.debug("deployment \(notice.deployment) already \(existing.state.rawValue); ignoring")
      return
    }
    if existing == nil, (try? store.installed())?[notice.release.package] == notice.release.version {
      logger.info("\(notice.release) is already installed")
      report(notice, .successful, stage: "already-installed", percent: 100)
      return
    }
    let work = "\(config.dataDirectory)/work/\(notice.deployment)"
    do {
      let handler = try handlers.handler(named: notice.handler)
      let total = notice.artifacts.reduce(Int64(0)) { $0 + $1.size }
      report(notice, .downloading, bytes: 0, total: total, percent: 0)
      var files: [String: String] = [:]
      var done: Int64 = 0
      let deadline = ContinuousClock.now + .seconds(notice.timeouts.download)
      var attempt = 1
      for artifact in notice.artifacts {
        while true {
          do {
            files[artifact.name] = try await download(
              artifact, of: notice, before: done, total: total, attempt: attempt, deadline: deadline)
            break
          } catch let error as AgentError where error.isRetryable && !Task.isCancelled {
            attempt = try await prepareRetry(notice, after: attempt, error: error, deadline: deadline)
          }
        }
        done += artifact.size
      }
      report(notice, .downloaded, bytes: total, total: total, percent: 100, attempt: attempt)
      report(notice, .installing, attempt: attempt)
      try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
      let context = InstallContext(
        deviceID: deviceID, notice: notice, artifacts: files, workDirectory: work,
        installDirectory: config.installDirectory)
      do {
        try await handler.install(context)
      } catch {
        try await undo(notice, handler: handler, context: context, after: error, attempt: attempt)
        cleanUp(notice, work: work)
        return
      }
      try store.markInstalled(notice.release, deployment: notice.deployment)
      report(notice, .successful, percent: 100, attempt: attempt)
      logger.info("installed \(notice.release)", metadata: ["deployment": .string(notice.deployment)])
      cleanUp(notice, work: work)
      await onInstalled()
    } catch is CancellationError {
      // Stopped: keep the partial download for the next start.
      return
    } catch {
      logger.error("deployment \(notice.deployment) failed: \(error)")
      report(notice, .failed, error: "\(error)")
      cleanUp(notice, work: work)
    }
  }

  /// Reports `Retrying` with the attempt and the reason, waits the backoff,
  /// and returns the next attempt number; throws when the retry budget or
  /// the deployment's download time is spent.
  private func prepareRetry(
    _ notice: DeploymentNotice, after attempt: Int, error: AgentError, deadline: ContinuousClock.Instant
  ) async throws -> Int {
    guard backoff.allowsRetry(after: attempt) else {
      throw AgentError.download(
        url: notice.artifacts.first?.url ?? "", reason: "gave up after \(attempt) attempts: \(error)",
        retryable: false)
    }
    let delay = backoff.delay(before: attempt + 1, random: Double.random(in: 0..<1))
    guard ContinuousClock.now + .seconds(delay) < deadline else {
      throw AgentError.timedOut(stage: "the download", seconds: notice.timeouts.download, last: "\(error)")
    }
    let next = attempt + 1
    logger.warning("attempt \(attempt) failed: \(error); retrying in \(String(format: "%.1f", delay)) s")
    report(
      notice, .retrying, stage: "retry \(next) of \(backoff.maxAttempts) in \(String(format: "%.1f", delay)) s",
      attempt: next, error: "\(error)")
    try await Task.sleep(for: .seconds(delay))
    report(notice, .downloading, attempt: next)
    return next
  }

  /// A failed install: report it, run the handler's rollback, and report
  /// `RolledBack` when it undid something (or why it could not).
  private func undo(
    _ notice: DeploymentNotice, handler: any InstallHandler, context: InstallContext, after error: any Error,
    attempt: Int
  ) async throws {
    logger.error("install of \(notice.release) failed: \(error); rolling back")
    report(notice, .failed, attempt: attempt, error: "\(error)")
    do {
      if try await handler.rollback(context) {
        report(notice, .rolledBack, attempt: attempt, error: "rolled back after: \(error)")
      }
    } catch let rollbackError {
      report(notice, .failed, attempt: attempt, error: "\(error); the rollback failed too: \(rollbackError)")
    }
  }

  /// An update ended: its downloads and scratch files go.
  private func cleanUp(_ notice: DeploymentNotice, work: String) {
    try? FileManager.default.removeItem(atPath: work)
    for artifact in notice.artifacts { downloader.cleanUp(artifact) }
  }

  private func download(
    _ artifact: ArtifactRef, of notice: DeploymentNotice, before: Int64, total: Int64, attempt: Int,
    deadline: ContinuousClock.Instant
  ) async throws -> String {
    let clock = ContinuousClock()
    let start = clock.now
    let throttle = ThrottleBox(ProgressThrottle(interval: config.progressInterval))
    let topic = Topics.device(deviceID, .status)
    let remaining = max(deadline - clock.now, .seconds(1))
    return try await downloader.download(
      artifact, timeout: .nanoseconds(Int64(remaining.components.seconds) * 1_000_000_000)
    ) { [store, outbox, events] bytes, resumedFrom in
      let done = before + bytes
      let percent = ProgressThrottle.percent(done, of: total)
      let elapsed = (clock.now - start) / .seconds(1)
      guard resumedFrom != nil || throttle.shouldReport(now: elapsed, percent: percent) else { return }
      let report = StatusReport(
        deployment: notice.deployment, state: .downloading,
        stage: resumedFrom.map { "resumed at \($0) bytes" }, bytes: done, total: total, percent: percent,
        attempt: attempt)
      try? store.enqueue(topic: topic, payload: Wire.encode(report))
      outbox.wake()
      events.publish(DeviceUpdateEvent(notice: notice, report: report))
    }
  }

  /// Stores the state and queues its report, then wakes the publisher.
  private func report(
    _ notice: DeploymentNotice, _ state: DeviceState, stage: String? = nil, bytes: Int64? = nil,
    total: Int64? = nil, percent: Int? = nil, attempt: Int = 1, error: String? = nil
  ) {
    let report = StatusReport(
      deployment: notice.deployment, state: state, stage: stage, bytes: bytes, total: total, percent: percent,
      attempt: attempt, error: error)
    do {
      try store.transition(notice, to: state, report: report, topic: Topics.device(deviceID, .status))
    } catch {
      logger.critical("could not store state \(state.rawValue) of \(notice.deployment): \(error)")
    }
    outbox.wake()
    events.publish(DeviceUpdateEvent(notice: notice, report: report))
  }
}

/// The throttle's state, touched only from the download's own task.
private final class ThrottleBox: @unchecked Sendable {
  private var throttle: ProgressThrottle
  init(_ throttle: ProgressThrottle) { self.throttle = throttle }
  func shouldReport(now: Double, percent: Int) -> Bool { throttle.shouldReport(now: now, percent: percent) }
}
