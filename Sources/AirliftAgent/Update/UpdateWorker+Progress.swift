import AirliftCore
import Foundation
import Synchronization

/// Progress between the states: `Downloading` reports with bytes while the
/// assets arrive, `Installing` reports with what the handler says while it
/// installs — throttled, queued like every report, and told to local watchers.
extension UpdateWorker {
  /// Queues `Downloading` reports with bytes and percent, throttled by the
  /// config's interval and percent step (`force` skips the throttle).
  func progressReporter(_ notice: DeploymentNotice, attempt: Int, tally: TransferTally? = nil)
    -> @Sendable (_ bytes: Int64, _ total: Int64, _ stage: String?, _ force: Bool) -> Void
  {
    let start = clock.now
    let throttle = ThrottleBox(ProgressThrottle(interval: config.progressInterval, percentStep: config.progressPercent))
    return { [store, clock, self] done, total, stage, force in
      let percent = ProgressThrottle.percent(done, of: total)
      guard force || throttle.shouldReport(now: (clock.now - start).seconds, percent: percent) else { return }
      var report = StatusReport(
        deployment: notice.deployment, state: .downloading, stage: stage, bytes: done, total: total,
        percent: percent, attempt: attempt)
      if let tally {
        let (fetched, reused) = (tally.fetched, tally.reused)
        report.fetched = fetched
        report.reused = reused > 0 ? reused : nil
        try? store.recordTransfer(
          deployment: notice.deployment, round: notice.round ?? 1, fetched: fetched, reused: reused)
      }
      self.queueProgress(report, of: notice)
    }
  }

  /// Queues `Installing` (or, for the checks after a reboot, `Verifying`) reports of the handler's progress: at
  /// once for a new stage, else throttled like a download's.
  func installReporter(_ notice: DeploymentNotice, attempt: Int, state: DeviceState = .installing)
    -> @Sendable (InstallProgress) -> Void
  {
    let start = clock.now
    let interval = config.progressInterval
    let percentStep = config.progressPercent
    let current = StageBox()
    return { [clock, self] progress in
      let percent = progress.wholePercent
      let throttle = current.throttle(
        for: progress.stage, new: ProgressThrottle(interval: interval, percentStep: percentStep))
      guard let throttle else {
        // A new stage: always reported.
        self.queueProgress(Self.report(notice, state, progress, percent: percent, attempt: attempt), of: notice)
        return
      }
      guard let percent, throttle.shouldReport(now: (clock.now - start).seconds, percent: percent) else { return }
      self.queueProgress(Self.report(notice, state, progress, percent: percent, attempt: attempt), of: notice)
    }
  }

  private static func report(
    _ notice: DeploymentNotice, _ state: DeviceState, _ progress: InstallProgress, percent: Int?, attempt: Int
  ) -> StatusReport {
    StatusReport(
      deployment: notice.deployment, state: state, stage: progress.stage, bytes: progress.bytes,
      total: progress.total, percent: percent, attempt: attempt)
  }

  /// Queues a progress report of `notice`'s update and tells local watchers; nonisolated so a handler's
  /// callback on any thread can call it.
  nonisolated func queueProgress(_ report: StatusReport, of notice: DeploymentNotice) {
    var report = report
    report.round = notice.round
    try? store.enqueue(report: report, topic: Topics.device(deviceID, .status))
    outbox.wake()
    events.publish(DeviceUpdateEvent(notice: notice, report: report))
  }
}

/// The throttle's state, touched only from one download's task at a time.
final class ThrottleBox: @unchecked Sendable {
  private var throttle: ProgressThrottle
  init(_ throttle: ProgressThrottle) { self.throttle = throttle }
  func shouldReport(now: Double, percent: Int) -> Bool { throttle.shouldReport(now: now, percent: percent) }
}

/// The stage an install reports and its throttle; a new stage starts a new throttle.
private final class StageBox: Sendable {
  private let state = Mutex<(stage: String, throttle: ThrottleBox)?>(nil)

  /// The throttle of `stage`, or nil when `stage` is new (then `new` becomes its throttle).
  func throttle(for stage: String, new: ProgressThrottle) -> ThrottleBox? {
    state.withLock { current in
      if let current, current.stage == stage { return current.throttle }
      current = (stage, ThrottleBox(new))
      return nil
    }
  }
}
