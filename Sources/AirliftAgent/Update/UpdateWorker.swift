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
  private let logger: Logger
  private let onInstalled: @Sendable () async -> Void
  private let queue: AsyncStream<DeploymentNotice>
  private let enqueue: AsyncStream<DeploymentNotice>.Continuation

  init(
    deviceID: DeviceID, store: AgentStore, downloader: ArtifactDownloader, handlers: InstallHandlers,
    config: AgentConfig, outbox: Outbox, logger: Logger, onInstalled: @escaping @Sendable () async -> Void
  ) {
    self.deviceID = deviceID
    self.store = store
    self.downloader = downloader
    self.handlers = handlers
    self.config = config
    self.outbox = outbox
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
      report(notice, .successful, stage: "already installed", percent: 100)
      return
    }
    let work = "\(config.dataDirectory)/work/\(notice.deployment)"
    let downloads = "\(config.dataDirectory)/downloads"
    defer {
      try? FileManager.default.removeItem(atPath: work)
      for artifact in notice.artifacts {
        try? FileManager.default.removeItem(atPath: "\(downloads)/\(artifact.sha256)")
      }
    }
    do {
      let handler = try handlers.handler(named: notice.handler)
      let total = notice.artifacts.reduce(Int64(0)) { $0 + $1.size }
      report(notice, .downloading, bytes: 0, total: total, percent: 0)
      var files: [String: String] = [:]
      var done: Int64 = 0
      for artifact in notice.artifacts {
        files[artifact.name] = try await download(artifact, of: notice, before: done, total: total)
        done += artifact.size
      }
      report(notice, .downloaded, bytes: total, total: total, percent: 100)
      report(notice, .installing)
      try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
      try await handler.install(
        InstallContext(
          deviceID: deviceID, notice: notice, artifacts: files, workDirectory: work,
          installDirectory: config.installDirectory))
      try store.markInstalled(notice.release, deployment: notice.deployment)
      report(notice, .successful, percent: 100)
      logger.info("installed \(notice.release)", metadata: ["deployment": .string(notice.deployment)])
      await onInstalled()
    } catch {
      logger.error("deployment \(notice.deployment) failed: \(error)")
      report(notice, .failed, error: "\(error)")
    }
  }

  private func download(_ artifact: ArtifactRef, of notice: DeploymentNotice, before: Int64, total: Int64)
    async throws -> String
  {
    let clock = ContinuousClock()
    let start = clock.now
    let throttle = ThrottleBox(ProgressThrottle(interval: config.progressInterval))
    let topic = Topics.device(deviceID, .status)
    return try await downloader.download(
      artifact, timeout: .seconds(Int64(notice.timeouts.download))
    ) { [store, outbox] bytes in
      let done = before + bytes
      let percent = ProgressThrottle.percent(done, of: total)
      let elapsed = (clock.now - start) / .seconds(1)
      guard throttle.shouldReport(now: elapsed, percent: percent) else { return }
      let report = StatusReport(
        deployment: notice.deployment, state: .downloading, bytes: done, total: total, percent: percent)
      try? store.enqueue(topic: topic, payload: Wire.encode(report))
      outbox.wake()
    }
  }

  /// Stores the state and queues its report, then wakes the publisher.
  private func report(
    _ notice: DeploymentNotice, _ state: DeviceState, stage: String? = nil, bytes: Int64? = nil,
    total: Int64? = nil, percent: Int? = nil, error: String? = nil
  ) {
    let report = StatusReport(
      deployment: notice.deployment, state: state, stage: stage, bytes: bytes, total: total, percent: percent,
      attempt: 1, error: error)
    do {
      try store.transition(notice, to: state, report: report, topic: Topics.device(deviceID, .status))
    } catch {
      logger.critical("could not store state \(state.rawValue) of \(notice.deployment): \(error)")
    }
    outbox.wake()
  }
}

/// The throttle's state, touched only from the download's own task.
private final class ThrottleBox: @unchecked Sendable {
  private var throttle: ProgressThrottle
  init(_ throttle: ProgressThrottle) { self.throttle = throttle }
  func shouldReport(now: Double, percent: Int) -> Bool { throttle.shouldReport(now: now, percent: percent) }
}
