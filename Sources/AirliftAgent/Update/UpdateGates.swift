import AirliftCore
import Foundation
import Synchronization

/// Consent given locally with `airlift-agent apply`, for the update that
/// waits for it.
final class ConsentBox: Sendable {
  /// What a local program said when it applied the downloaded update itself.
  struct LocalResult: Sendable, Equatable {
    var ok: Bool
    var message: String?
  }

  private struct State {
    var waiting: String?
    var granted: Set<String> = []
    var localResults: [String: LocalResult] = [:]
    /// `airlift-agent fetch`: the next update waits after its download as in consent mode.
    var holdNext = false
    var held: String?
    /// The `ready` event of the update that waits, for a program that asks after it went out.
    var ready: DeviceUpdateEvent?
  }
  private let state = Mutex(State())

  /// Marks `deployment` as waiting for consent.
  func wait(for deployment: String?) {
    state.withLock {
      $0.waiting = deployment
      if deployment == nil { $0.ready = nil }
      if let deployment, $0.holdNext {
        $0.held = deployment
        $0.holdNext = false
      }
    }
  }

  func isGranted(_ deployment: String) -> Bool { state.withLock { $0.granted.contains(deployment) } }

  /// Whether `deployment` waits for `airlift-agent install` because `fetch` asked for it.
  func isHeld(_ deployment: String) -> Bool {
    state.withLock { $0.held == deployment || ($0.holdNext && $0.held == nil) }
  }

  /// The update being downloaded now, or the next one, stops after its download until `grant`.
  func holdNextDownload() { state.withLock { $0.holdNext = true } }

  /// The deployment that waits for consent now, if any.
  var waiting: String? { state.withLock { $0.waiting } }

  /// The `ready` event of the update that waits now.
  var ready: DeviceUpdateEvent? {
    get { state.withLock { $0.waiting != nil && $0.ready?.deployment == $0.waiting ? $0.ready : nil } }
    set { state.withLock { $0.ready = newValue } }
  }

  /// Grants consent to the waiting update; returns its deployment, or nil when none waits. With `local`, a
  /// program on the device applied it itself: the agent records that outcome instead of installing.
  func grant(local: LocalResult? = nil) -> String? {
    state.withLock { state in
      guard let waiting = state.waiting else { return nil }
      state.granted.insert(waiting)
      if let local { state.localResults[waiting] = local }
      if state.held == waiting { state.held = nil }
      return waiting
    }
  }

  /// What a local program reported for `deployment`, once.
  func takeLocalResult(_ deployment: String) -> LocalResult? {
    state.withLock { $0.localResults.removeValue(forKey: deployment) }
  }
}

/// What keeps an update from its next step right now — the schedule and
/// apply windows, consent, the update lock, the precondition command — in
/// words for the status report.
struct UpdateGates: Sendable {
  enum Step: String, Sendable {
    case download
    case install
    case reboot
  }

  let config: AgentConfig
  let consent: ConsentBox

  /// The reason `step` must wait, from the cheap checks (nil: go on).
  func blocker(_ step: Step, deployment: String, now: Date = Date()) -> String? {
    let zone = config.windowTimeZone
    switch step {
    case .download:
      if let window = config.schedule, !window.contains(now, in: zone) {
        return "waiting for the schedule window '\(window)'\(opening(window, after: now))"
      }
    case .install:
      if let lock = lockHeld() { return lock }
      let granted = consent.isGranted(deployment)
      if consent.isHeld(deployment) && !granted {
        return "ready: fetched; waiting for airlift-agent install (or apply)"
      }
      if config.consent && !granted {
        if let window = config.apply, window.contains(now, in: zone) { return nil }
        let also = config.apply.map { " or the apply window '\($0)'\(opening($0, after: now))" } ?? ""
        return "ready: waiting for consent (airlift-agent apply)\(also)"
      }
      if !granted, let window = config.apply, !window.contains(now, in: zone) {
        return "waiting for the apply window '\(window)'\(opening(window, after: now))"
      }
    case .reboot:
      if let lock = lockHeld() { return lock }
    }
    return nil
  }

  /// Runs the precondition command for `step`; returns why it defers the step (nil: go on).
  func precondition(_ step: Step, notice: DeploymentNotice) async -> String? {
    guard let argv = config.preconditionCommand else { return nil }
    let command = LocalCommand(role: "preconditionCommand", argv: argv)
    do {
      let outcome = try await command.run(
        [step.rawValue],
        environment: [
          "AIRLIFT_STEP": step.rawValue, "AIRLIFT_DEPLOYMENT": notice.deployment,
          "AIRLIFT_PACKAGE": notice.release.package, "AIRLIFT_VERSION": notice.release.version,
        ], timeout: 60)
      guard !outcome.succeeded else { return nil }
      return "precondition for \(step.rawValue) not met: \(argv[0]) \(outcome.status)"
        + (outcome.message.isEmpty ? "" : ": \(outcome.message)")
    } catch {
      return "precondition for \(step.rawValue) could not run: \(error)"
    }
  }

  private func lockHeld() -> String? {
    guard let lock = config.updateLockFile, FileManager.default.fileExists(atPath: lock) else { return nil }
    return "waiting for the update lock \(lock) to be removed"
  }

  private func opening(_ window: UpdateWindow, after now: Date) -> String {
    guard let next = window.nextOpening(after: now, in: config.windowTimeZone) else { return " (it never opens)" }
    return " (opens \(next.formatted(.iso8601)))"
  }
}
