import AirliftCore
import Testing

@Suite("Update state machine")
struct UpdateMachineTests {
  static let limits = UpdateLimits(maxAttempts: 3, maxBoots: 2)

  struct Row: CustomTestStringConvertible, Sendable {
    var from: UpdateProgress
    var event: UpdateEvent
    var to: UpdateProgress
    var reports: Bool
    var effects: [UpdateEffect]
    var testDescription: String { "\(from.phase) + \(event) -> \(to.phase)" }

    init(
      _ from: UpdateProgress, _ event: UpdateEvent, _ to: UpdateProgress, reports: Bool = true,
      _ effects: [UpdateEffect]
    ) {
      self.from = from
      self.event = event
      self.to = to
      self.reports = reports
      self.effects = effects
    }
  }

  static func at(_ phase: UpdatePhase, attempt: Int = 1, boots: Int = 0, error: String? = nil) -> UpdateProgress {
    UpdateProgress(phase: phase, attempt: attempt, boots: boots, error: error)
  }

  static let table: [Row] = [
    // The happy path of a handler without reboot.
    Row(at(.pending), .begin(alreadyInstalled: false), at(.pending), [.awaitDownloadPermission]),
    Row(at(.pending), .downloadPermitted, at(.downloading), [.download(attempt: 1)]),
    Row(at(.downloading), .downloadSucceeded, at(.downloaded), [.awaitInstallPermission]),
    Row(at(.downloaded), .installPermitted, at(.installing), [.install]),
    Row(at(.installing), .installSucceeded(needsReboot: false), at(.verifying), [.verify]),
    Row(at(.verifying), .verifySucceeded, at(.verifying), reports: false, [.commit]),
    Row(at(.verifying), .committed, at(.successful), [.cleanUp]),
    // Already there: nothing to download.
    Row(at(.pending), .begin(alreadyInstalled: true), at(.successful), []),
    // Retries inside the budget, then the last reason.
    Row(
      at(.downloading), .downloadFailed(reason: "reset", retryable: true), at(.retrying, attempt: 2, error: "reset"),
      [.waitBeforeRetry(attempt: 2)]),
    Row(
      at(.retrying, attempt: 2, error: "reset"), .retryDue, at(.downloading, attempt: 2, error: "reset"),
      [
        .download(attempt: 2)
      ]),
    Row(
      at(.downloading, attempt: 3), .downloadFailed(reason: "reset", retryable: true),
      at(.failed, attempt: 3, error: "gave up after 3 attempts: reset"), [.cleanUp]),
    Row(
      at(.downloading), .downloadFailed(reason: "digest mismatch", retryable: false),
      at(.failed, error: "digest mismatch"), [.cleanUp]),
    Row(
      at(.retrying, attempt: 2), .abandoned(reason: "too slow"), at(.failed, attempt: 2, error: "too slow"), [.cleanUp]),
    // Install failures roll back; the rollback's outcome decides the final state.
    Row(at(.installing), .installFailed(reason: "exit 3"), at(.rollingBack, error: "exit 3"), [.rollBack]),
    Row(at(.verifying), .verifyFailed(reason: "unhealthy"), at(.rollingBack, error: "unhealthy"), [.rollBack]),
    Row(
      at(.installing), .abandoned(reason: "install took too long"), at(.rollingBack, error: "install took too long"),
      [
        .rollBack
      ]),
    Row(
      at(.rollingBack, error: "exit 3"), .rollbackFinished(undone: true, needsReboot: false),
      at(.rolledBack, error: "rolled back after: exit 3"), [.cleanUp]),
    Row(
      at(.rollingBack, error: "exit 3"), .rollbackFinished(undone: false, needsReboot: false),
      at(.failed, error: "exit 3"), reports: false, [.cleanUp]),
    Row(
      at(.rollingBack, error: "unhealthy"), .rollbackFinished(undone: true, needsReboot: true),
      at(.rolledBack, error: "rolled back after: unhealthy"), [.cleanUp, .reboot]),
    Row(
      at(.rollingBack, error: "exit 3"), .rollbackFailed(reason: "no previous slot"),
      at(.failed, error: "exit 3; the rollback failed too: no previous slot"), [.cleanUp]),
    // Reboot handlers: verify on the next start, with a boot counter.
    Row(at(.installing), .installSucceeded(needsReboot: true), at(.rebooting), [.reboot]),
    Row(at(.rebooting), .agentStarted, at(.verifying, boots: 1), [.verify]),
    Row(at(.verifying, boots: 1), .agentStarted, at(.verifying, boots: 2), [.verify]),
    Row(
      at(.verifying, boots: 2), .agentStarted,
      at(.rollingBack, boots: 3, error: "boot loop: started 3 times without passing the health check"), [.rollBack]),
    // A restart in every unfinished phase.
    Row(at(.pending), .agentStarted, at(.pending), reports: false, [.awaitDownloadPermission]),
    Row(at(.downloading, attempt: 2), .agentStarted, at(.downloading, attempt: 2), [.download(attempt: 2)]),
    Row(at(.retrying, attempt: 2), .agentStarted, at(.downloading, attempt: 2), [.download(attempt: 2)]),
    Row(at(.downloaded), .agentStarted, at(.downloaded), reports: false, [.awaitInstallPermission]),
    Row(
      at(.installing), .agentStarted,
      at(.rollingBack, error: "the agent stopped during the install, which is not safe to repeat"), [.rollBack]),
    Row(at(.rollingBack, error: "x"), .agentStarted, at(.rollingBack, error: "x"), reports: false, [.rollBack]),
  ]

  @Test("each row: state + event -> new state + effects", arguments: table)
  func transition(_ row: Row) throws {
    let step = try #require(UpdateMachine.next(row.from, on: row.event, limits: Self.limits))
    #expect(step.progress == row.to)
    #expect(step.reports == row.reports)
    #expect(step.effects == row.effects)
  }

  @Test("finished updates ignore every event", arguments: [UpdatePhase.successful, .failed, .rolledBack])
  func finished(_ phase: UpdatePhase) {
    let events: [UpdateEvent] = [
      .begin(alreadyInstalled: false), .agentStarted, .downloadSucceeded, .installSucceeded(needsReboot: false),
      .rollbackFinished(undone: true, needsReboot: false), .abandoned(reason: "late"),
    ]
    for event in events {
      #expect(UpdateMachine.next(Self.at(phase), on: event, limits: Self.limits) == nil)
    }
  }

  @Test("results that do not belong to the phase are refused")
  func outOfOrder() {
    #expect(UpdateMachine.next(Self.at(.pending), on: .installPermitted, limits: Self.limits) == nil)
    #expect(UpdateMachine.next(Self.at(.downloaded), on: .committed, limits: Self.limits) == nil)
    #expect(UpdateMachine.next(Self.at(.installing), on: .downloadSucceeded, limits: Self.limits) == nil)
    #expect(UpdateMachine.next(Self.at(.rebooting), on: .verifySucceeded, limits: Self.limits) == nil)
  }

  @Test("every reported move is one the controller accepts")
  func reportedMovesAreAllowed() {
    for row in Self.table where row.reports {
      let from = row.from.phase.reported
      let to = row.to.phase.reported
      #expect(from.canMove(to: to), "\(from) -> \(to)")
    }
  }

  @Test("a rollback in progress is reported as Failed and survives as its own phase")
  func rollingBackIsFailed() {
    #expect(UpdatePhase.rollingBack.reported == .failed)
    #expect(!UpdatePhase.rollingBack.isFinished)
    #expect(UpdatePhase.allCases.filter(\.isFinished) == [.successful, .failed, .rolledBack])
  }
}
