import AirliftCore
import Foundation
import Testing

@testable import AirliftAgent

/// An agent stopped in any phase of an update (killed, power cut, reboot)
/// goes on from what it stored: each case stores a phase as a stopped agent
/// would have, starts a worker on that store and checks where the update
/// ends, which handler calls ran, and what was reported.
@Suite("The update worker after a restart, in every phase", .timeLimit(.minutes(1)))
struct UpdateWorkerRestartTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var phase: UpdatePhase
    var boots = 0
    /// Where the update ends.
    var ends: DeviceState
    /// The handler calls the restarted worker makes.
    var calls: [String]
    var testDescription: String { "\(phase.rawValue)\(boots > 0 ? " (\(boots) boots)" : "") → \(ends.rawValue)" }
  }

  static let cases: [Case] = [
    Case(phase: .pending, ends: .successful, calls: ["prefetch", "install", "verify", "commit"]),
    Case(phase: .downloading, ends: .successful, calls: ["prefetch", "install", "verify", "commit"]),
    // The wait before the retry is not served again: the start is the retry.
    Case(phase: .retrying, ends: .successful, calls: ["prefetch", "install", "verify", "commit"]),
    Case(phase: .downloaded, ends: .successful, calls: ["install", "verify", "commit"]),
    // An install cut in the middle is not safe to repeat: it is undone.
    Case(phase: .installing, ends: .rolledBack, calls: ["rollback"]),
    // Back from the reboot into the new version: it is verified, then committed.
    Case(phase: .rebooting, ends: .successful, calls: ["verify", "commit"]),
    Case(phase: .verifying, ends: .successful, calls: ["verify", "commit"]),
    // A device that keeps restarting before its health check passes is in a boot loop.
    Case(phase: .verifying, boots: 3, ends: .rolledBack, calls: ["rollback"]),
    Case(phase: .rollingBack, ends: .rolledBack, calls: ["rollback"]),
  ]

  @Test("a stopped update goes on from its stored phase", arguments: cases)
  func resumes(_ stopped: Case) async throws {
    let rig = try WorkerRig()
    let notice = try rig.notice()
    let progress = UpdateProgress(
      phase: stopped.phase, attempt: stopped.phase == .retrying ? 2 : 1, boots: stopped.boots,
      error: stopped.phase == .rollingBack ? "the health check failed" : nil)
    try rig.store.save(notice, progress: progress, report: nil, topic: "test")
    let events = rig.events.updates()
    rig.start()
    let end = await rig.end(events)
    #expect(end?.state == stopped.ends)
    #expect(rig.handler.calls == stopped.calls)
    #expect(try rig.stored()?.phase.reported == stopped.ends)
    #expect(try rig.store.installed()["app"] == (stopped.ends == .successful ? "1.0.0" : nil))
    #expect(try rig.reportedStates().last == stopped.ends)
  }

  @Test("finished updates stay finished: a restart runs nothing and reports nothing again")
  func finishedStaysFinished() async throws {
    for phase in [UpdatePhase.successful, .failed, .rolledBack] {
      let rig = try WorkerRig()
      try rig.store.save(try rig.notice(), progress: UpdateProgress(phase: phase), report: nil, topic: "test")
      let worker = rig.start()
      // The same deployment delivered again (retained notice, QoS 1): still nothing.
      worker.submit(try rig.notice())
      // A second deployment behind it shows the first was passed over, not still pending.
      let events = rig.events.updates()
      worker.submit(try rig.notice("d-2", version: "2.0.0"))
      _ = await rig.end(events, of: "d-2")
      #expect(try rig.stored()?.phase == phase)
      #expect(rig.handler.calls == ["prefetch", "install", "verify", "commit"], "only d-2 ran")
      #expect(try rig.queuedReports().allSatisfy { $0.deployment == "d-2" })
    }
  }

  @Test("a reboot asked for by the install: the worker stops there, and the next start verifies and commits")
  func rebootThenVerify() async throws {
    let rig = try WorkerRig(.init(needsReboot: true))
    var events = rig.events.updates()
    rig.start().submit(try rig.notice())
    _ = await events.first { $0.state == .rebooting }
    await rig.handler.waitFor("reboot")
    await rig.stop()
    #expect(rig.reboots.withLock { $0 } == 1)
    #expect(try rig.stored()?.phase == .rebooting)
    #expect(!rig.handler.calls.contains("verify"))

    events = rig.events.updates()
    rig.start()
    let end = await rig.end(events)
    #expect(end?.state == .successful)
    #expect(rig.handler.calls == ["prefetch", "install", "reboot", "verify", "commit"])
    #expect(try rig.reportedStates().suffix(4) == [.installing, .rebooting, .verifying, .successful])
    #expect(try rig.store.installed()["app"] == "1.0.0")
  }

  @Test("after a reboot the health check fails: the update is rolled back and reported so")
  func failedHealthCheck() async throws {
    let rig = try WorkerRig(.init(needsReboot: true, verify: .fail("service did not come up")))
    rig.start().submit(try rig.notice())
    await rig.handler.waitFor("reboot")
    await rig.stop()
    let events = rig.events.updates()
    rig.start()
    let end = await rig.end(events)
    #expect(end?.state == .rolledBack)
    #expect(end?.error?.contains("service did not come up") == true, "\(end?.error ?? "no error")")
    #expect(rig.handler.calls == ["prefetch", "install", "reboot", "verify", "rollback"])
    #expect(try rig.store.installed()["app"] == nil)
  }
}
