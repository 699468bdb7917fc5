import AirliftCore
import Foundation
import GRDB
import Testing

@testable import AirliftAgent

/// When the agent cannot write its state (a full data disk), nothing of the
/// step it could not record may happen: the update stops where the store
/// says it is, the check-in says why, and it goes on from there once the
/// state can be written again. SQLite's own error is raised by a trigger on
/// the real file, as a full disk would raise it.
@Suite("The update worker when its state cannot be stored", .timeLimit(.minutes(1)))
struct UpdateWorkerStorageTests {
  /// Makes every write of deployment state that would store `state` fail as a full disk does (nil: every write).
  private func failWrites(_ rig: WorkerRig, storing state: DeviceState? = nil) throws {
    let when = state.map { "WHEN NEW.state = '\($0.rawValue)'" } ?? ""
    try rig.store.db.write { db in
      for operation in ["INSERT", "UPDATE"] {
        try db.execute(
          sql: """
            CREATE TRIGGER full_disk_\(operation.lowercased()) BEFORE \(operation) ON update_record \(when)
            BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END
            """)
      }
    }
  }

  private func allowWrites(_ rig: WorkerRig) throws {
    try rig.store.db.write { db in
      try db.execute(sql: "DROP TRIGGER full_disk_insert; DROP TRIGGER full_disk_update")
    }
  }

  @Test("a deployment whose first step cannot be stored does not start; delivered again later, it runs")
  func firstStepNotStored() async throws {
    let rig = try WorkerRig()
    try failWrites(rig)
    let worker = rig.start()
    var changes = rig.changes.makeAsyncIterator()
    worker.submit(try rig.notice())
    _ = await changes.next()
    let problem = try #require(worker.storageProblem.withLock { $0 })
    #expect(problem.contains("the data disk is full") && problem.contains("d-1"), "\(problem)")
    #expect(rig.handler.calls.isEmpty)
    #expect(try rig.stored() == nil)
    #expect(try rig.queuedReports().isEmpty)

    try allowWrites(rig)
    let events = rig.events.updates()
    worker.submit(try rig.notice())
    #expect(await rig.end(events)?.state == .successful)
    #expect(worker.storageProblem.withLock { $0 } == nil)
  }

  @Test("a step that cannot be stored does not run: the install waits, and the next start goes on from Downloaded")
  func installNotStored() async throws {
    let rig = try WorkerRig()
    try failWrites(rig, storing: .installing)
    let worker = rig.start()
    var changes = rig.changes.makeAsyncIterator()
    worker.submit(try rig.notice())
    _ = await changes.next()
    #expect(worker.storageProblem.withLock { $0 }?.contains("stopped before Installing") == true)
    #expect(rig.handler.calls == ["prefetch"], "the install never ran")
    #expect(try rig.stored()?.phase == .downloaded)
    #expect(try rig.reportedStates() == [.pending, .downloading, .downloaded])

    try allowWrites(rig)
    await rig.stop()
    let events = rig.events.updates()
    rig.start()
    #expect(await rig.end(events)?.state == .successful)
    #expect(rig.handler.calls == ["prefetch", "install", "verify", "commit"])
    #expect(try rig.reportedStates() == [.pending, .downloading, .downloaded, .installing, .verifying, .successful])
  }
}
