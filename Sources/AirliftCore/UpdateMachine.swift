/// Where one update stands on the device, as stored in the agent's SQLite
/// file. It is `DeviceState` plus one phase the operator does not see as a
/// state of its own: `rollingBack` (reported as `Failed`), stored so that a
/// rollback cut by a crash is finished on the next start.
public enum UpdatePhase: String, Codable, Sendable, CaseIterable {
  case pending
  case downloading
  case retrying
  case downloaded
  case installing
  case rebooting
  case verifying
  case rollingBack
  case successful
  case failed
  case rolledBack

  /// The state reported to the controller and to local watchers.
  public var reported: DeviceState {
    switch self {
    case .pending: return .pending
    case .downloading: return .downloading
    case .retrying: return .retrying
    case .downloaded: return .downloaded
    case .installing: return .installing
    case .rebooting: return .rebooting
    case .verifying: return .verifying
    case .rollingBack, .failed: return .failed
    case .successful: return .successful
    case .rolledBack: return .rolledBack
    }
  }

  /// Nothing more will happen for this update.
  public var isFinished: Bool { self == .successful || self == .failed || self == .rolledBack }
}

/// The stored progress of one update: its phase and the counters that the
/// transitions need.
public struct UpdateProgress: Codable, Sendable, Equatable {
  public var phase: UpdatePhase
  /// Download attempt, 1-based.
  public var attempt: Int
  /// Agent starts seen since the reboot into the new version (boot counter).
  public var boots: Int
  /// Why the update failed or is being rolled back.
  public var error: String?

  public init(phase: UpdatePhase = .pending, attempt: Int = 1, boots: Int = 0, error: String? = nil) {
    self.phase = phase
    self.attempt = attempt
    self.boots = boots
    self.error = error
  }
}

/// Something that happened to an update: the result of an effect, or the
/// agent starting again with the update unfinished.
public enum UpdateEvent: Sendable, Equatable {
  /// A new deployment arrived; `alreadyInstalled` when the device runs its version.
  case begin(alreadyInstalled: Bool)
  /// The schedule window is open and the preconditions passed.
  case downloadPermitted
  case downloadSucceeded
  case downloadFailed(reason: String, retryable: Bool)
  case retryDue
  /// Consent, apply window, update lock and preconditions all allow the install.
  case installPermitted
  case installSucceeded(needsReboot: Bool)
  case installFailed(reason: String)
  case verifySucceeded
  case verifyFailed(reason: String)
  case committed
  case rollbackFinished(undone: Bool, needsReboot: Bool)
  case rollbackFailed(reason: String)
  /// The agent started (after a crash, a power cut or a reboot) and found the update unfinished.
  case agentStarted
  /// The deployment's time for the stage ran out, or a newer deployment replaced this one.
  case abandoned(reason: String)
  /// The release failed its checks (signature, expiry, version) before anything was downloaded.
  case refused(reason: String)
}

/// Work the agent does after storing a transition. Each effect ends in the
/// next event (except `cleanUp` and `reboot`).
public enum UpdateEffect: Sendable, Equatable {
  case awaitDownloadPermission
  case download(attempt: Int)
  case waitBeforeRetry(attempt: Int)
  case awaitInstallPermission
  case install
  case reboot
  case verify
  case commit
  case rollBack
  /// Removes downloads and scratch files: the update ended.
  case cleanUp
}

/// The result of one transition: the progress to store, whether it is a
/// new state to report, a note for the report, and the effects to run
/// afterwards, in order.
public struct UpdateStep: Sendable, Equatable {
  public var progress: UpdateProgress
  public var reports: Bool
  public var stage: String?
  public var effects: [UpdateEffect]

  public init(_ progress: UpdateProgress, reports: Bool = true, stage: String? = nil, effects: [UpdateEffect]) {
    self.progress = progress
    self.reports = reports
    self.stage = stage
    self.effects = effects
  }
}

/// Limits the transitions enforce.
public struct UpdateLimits: Sendable, Equatable {
  /// Download attempts in all, the first included.
  public var maxAttempts: Int
  /// Starts allowed after a reboot before the update counts as a boot loop.
  public var maxBoots: Int

  public init(maxAttempts: Int = 5, maxBoots: Int = 3) {
    self.maxAttempts = maxAttempts
    self.maxBoots = maxBoots
  }
}

/// The device's update state machine (DESIGN.md, "Device states") as one
/// pure function. The agent stores each step's progress before it runs the
/// step's effects, so whatever stops it, the next start continues from a
/// known phase: a download resumes, a reboot is verified, an interrupted
/// install is rolled back.
public enum UpdateMachine {
  /// The step that `event` causes in `progress`, or nil when the event has
  /// no meaning there (a late or duplicate result; the caller logs it).
  /// Every phase names every event: a new phase or event does not compile
  /// until each place says what it does there.
  public static func next(_ progress: UpdateProgress, on event: UpdateEvent, limits: UpdateLimits) -> UpdateStep? {
    switch progress.phase {
    case .pending: return pending(progress, event)
    case .downloading: return downloading(progress, event, limits)
    case .retrying: return retrying(progress, event)
    case .downloaded: return downloaded(progress, event)
    case .installing: return installing(progress, event)
    case .rebooting, .verifying: return afterInstall(progress, event, limits)
    case .rollingBack: return rollingBack(progress, event)
    case .successful, .failed, .rolledBack: return finished(event)
    }
  }

  private static func pending(_ progress: UpdateProgress, _ event: UpdateEvent) -> UpdateStep? {
    var p = progress
    switch event {
    case .begin(alreadyInstalled: true):
      p.phase = .successful
      return UpdateStep(p, stage: "already-installed", effects: [])
    case .begin(alreadyInstalled: false):
      return UpdateStep(p, effects: [.awaitDownloadPermission])
    case .agentStarted:
      return UpdateStep(p, reports: false, effects: [.awaitDownloadPermission])
    case .downloadPermitted:
      p.phase = .downloading
      return UpdateStep(p, effects: [.download(attempt: p.attempt)])
    case .refused(let reason), .abandoned(let reason):
      return fail(p, reason)
    case .downloadSucceeded, .downloadFailed, .retryDue, .installPermitted, .installSucceeded, .installFailed,
      .verifySucceeded, .verifyFailed, .committed, .rollbackFinished, .rollbackFailed:
      return nil
    }
  }

  private static func downloading(_ progress: UpdateProgress, _ event: UpdateEvent, _ limits: UpdateLimits)
    -> UpdateStep?
  {
    var p = progress
    switch event {
    case .downloadSucceeded:
      p.phase = .downloaded
      p.error = nil
      return UpdateStep(p, effects: [.awaitInstallPermission])
    case .downloadFailed(let reason, let retryable):
      guard retryable else { return fail(p, reason) }
      guard p.attempt < limits.maxAttempts else {
        return fail(p, "gave up after \(p.attempt) attempts: \(reason)")
      }
      p.phase = .retrying
      p.attempt += 1
      p.error = reason
      return UpdateStep(
        p, stage: "retry \(p.attempt) of \(limits.maxAttempts)", effects: [.waitBeforeRetry(attempt: p.attempt)])
    case .agentStarted:
      return UpdateStep(p, stage: "resuming after the agent restarted", effects: [.download(attempt: p.attempt)])
    case .abandoned(let reason):
      return fail(p, reason)
    case .begin, .downloadPermitted, .retryDue, .installPermitted, .installSucceeded, .installFailed,
      .verifySucceeded, .verifyFailed, .committed, .rollbackFinished, .rollbackFailed, .refused:
      return nil
    }
  }

  private static func retrying(_ progress: UpdateProgress, _ event: UpdateEvent) -> UpdateStep? {
    var p = progress
    switch event {
    case .retryDue, .agentStarted:
      p.phase = .downloading
      return UpdateStep(
        p, stage: event == .agentStarted ? "resuming after the agent restarted" : nil,
        effects: [.download(attempt: p.attempt)])
    case .abandoned(let reason):
      return fail(p, reason)
    case .begin, .downloadPermitted, .downloadSucceeded, .downloadFailed, .installPermitted, .installSucceeded,
      .installFailed, .verifySucceeded, .verifyFailed, .committed, .rollbackFinished, .rollbackFailed, .refused:
      return nil
    }
  }

  private static func downloaded(_ progress: UpdateProgress, _ event: UpdateEvent) -> UpdateStep? {
    var p = progress
    switch event {
    case .agentStarted:
      return UpdateStep(p, reports: false, effects: [.awaitInstallPermission])
    case .installPermitted:
      p.phase = .installing
      return UpdateStep(p, effects: [.install])
    case .abandoned(let reason):
      return fail(p, reason)
    case .begin, .downloadPermitted, .downloadSucceeded, .downloadFailed, .retryDue, .installSucceeded,
      .installFailed, .verifySucceeded, .verifyFailed, .committed, .rollbackFinished, .rollbackFailed, .refused:
      return nil
    }
  }

  private static func installing(_ progress: UpdateProgress, _ event: UpdateEvent) -> UpdateStep? {
    var p = progress
    switch event {
    case .installSucceeded(needsReboot: true):
      p.phase = .rebooting
      p.boots = 0
      return UpdateStep(p, effects: [.reboot])
    case .installSucceeded(needsReboot: false):
      p.phase = .verifying
      return UpdateStep(p, effects: [.verify])
    case .installFailed(let reason), .abandoned(let reason):
      return rollBack(p, reason)
    case .agentStarted:
      return rollBack(p, "the agent stopped during the install, which is not safe to repeat")
    case .begin, .downloadPermitted, .downloadSucceeded, .downloadFailed, .retryDue, .installPermitted,
      .verifySucceeded, .verifyFailed, .committed, .rollbackFinished, .rollbackFailed, .refused:
      return nil
    }
  }

  /// Rebooting and verifying: the new version runs (or is about to) and must pass its health check.
  private static func afterInstall(_ progress: UpdateProgress, _ event: UpdateEvent, _ limits: UpdateLimits)
    -> UpdateStep?
  {
    var p = progress
    let verifying = progress.phase == .verifying
    switch event {
    case .agentStarted:
      p.boots += 1
      guard p.boots <= limits.maxBoots else {
        return rollBack(p, "boot loop: started \(p.boots) times without passing the health check")
      }
      p.phase = .verifying
      return UpdateStep(p, stage: "started again (\(p.boots) of \(limits.maxBoots)), verifying", effects: [.verify])
    case .abandoned(let reason):
      return rollBack(p, reason)
    case .verifyFailed(let reason):
      return verifying ? rollBack(p, reason) : nil
    case .verifySucceeded:
      return verifying ? UpdateStep(p, reports: false, effects: [.commit]) : nil
    case .committed:
      guard verifying else { return nil }
      p.phase = .successful
      p.error = nil
      return UpdateStep(p, effects: [.cleanUp])
    case .begin, .downloadPermitted, .downloadSucceeded, .downloadFailed, .retryDue, .installPermitted,
      .installSucceeded, .installFailed, .rollbackFinished, .rollbackFailed, .refused:
      return nil
    }
  }

  private static func rollingBack(_ progress: UpdateProgress, _ event: UpdateEvent) -> UpdateStep? {
    var p = progress
    switch event {
    case .rollbackFinished(let undone, let needsReboot):
      p.phase = undone ? .rolledBack : .failed
      let reason = p.error ?? "unknown error"
      if undone { p.error = "rolled back after: \(reason)" }
      return UpdateStep(p, reports: undone, effects: needsReboot ? [.cleanUp, .reboot] : [.cleanUp])
    case .rollbackFailed(let reason):
      p.phase = .failed
      p.error = "\(p.error ?? "unknown error"); the rollback failed too: \(reason)"
      return UpdateStep(p, effects: [.cleanUp])
    case .agentStarted:
      return UpdateStep(p, reports: false, stage: "finishing the rollback", effects: [.rollBack])
    case .begin, .downloadPermitted, .downloadSucceeded, .downloadFailed, .retryDue, .installPermitted,
      .installSucceeded, .installFailed, .verifySucceeded, .verifyFailed, .committed, .abandoned, .refused:
      return nil
    }
  }

  /// A finished update: nothing changes it any more.
  private static func finished(_ event: UpdateEvent) -> UpdateStep? {
    switch event {
    case .begin, .downloadPermitted, .downloadSucceeded, .downloadFailed, .retryDue, .installPermitted,
      .installSucceeded, .installFailed, .verifySucceeded, .verifyFailed, .committed, .rollbackFinished,
      .rollbackFailed, .agentStarted, .abandoned, .refused:
      return nil
    }
  }

  private static func fail(_ progress: UpdateProgress, _ reason: String) -> UpdateStep {
    var p = progress
    p.phase = .failed
    p.error = reason
    return UpdateStep(p, effects: [.cleanUp])
  }

  /// Reports `Failed` with the reason and starts the handler's rollback;
  /// `RolledBack` follows when it undid something.
  private static func rollBack(_ progress: UpdateProgress, _ reason: String) -> UpdateStep {
    var p = progress
    p.phase = .rollingBack
    p.error = reason
    return UpdateStep(p, effects: [.rollBack])
  }
}
