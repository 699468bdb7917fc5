import AirliftCore
import Foundation
import GRDB

/// One deployment as the device saw it.
public struct UpdateRecord: Sendable, Equatable {
  public var notice: DeploymentNotice
  public var progress: UpdateProgress
  public var state: DeviceState { progress.phase.reported }
}

/// A package's installed version and the one it replaced.
public struct InstalledPackage: Sendable, Equatable {
  public var version: String
  public var previousVersion: String?
  public var deployment: String
}

/// A message waiting to be published (status reports survive restarts and
/// broker outages here until the broker acknowledges them).
struct OutboxMessage: Sendable {
  var id: Int64
  var topic: String
  var payload: [UInt8]
}

/// The agent's own SQLite file: updates and their states, installed
/// versions, and the outbox of unacknowledged reports.
public final class AgentStore: Sendable {
  let db: DatabasePool

  public init(path: String) throws {
    var configuration = Configuration()
    configuration.busyMode = .timeout(5)
    db = try Self.open(path, configuration)
    var migrator = AgentStoreMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(
        sql: """
          CREATE TABLE update_record (
            deployment_id TEXT PRIMARY KEY NOT NULL,
            notice TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT,
            updated_at DATETIME NOT NULL
          );
          CREATE TABLE installed (
            package TEXT PRIMARY KEY NOT NULL,
            version TEXT NOT NULL,
            deployment_id TEXT NOT NULL,
            installed_at DATETIME NOT NULL
          );
          CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at DATETIME NOT NULL
          );
          """)
    }
    migrator.registerMigration("v2-update-progress") { db in
      // The full machine state (phase, attempt, boot counter) and the version each install replaced.
      try db.execute(
        sql: """
          ALTER TABLE update_record ADD COLUMN progress TEXT;
          ALTER TABLE installed ADD COLUMN previous_version TEXT;
          """)
    }
    migrator.registerMigration("v3-sent-status") { db in
      try db.execute(
        sql: """
          CREATE TABLE sent_status (
            seq INTEGER PRIMARY KEY NOT NULL,
            payload BLOB NOT NULL,
            sent_at DATETIME NOT NULL
          );
          """)
    }
    migrator.registerMigration("v4-agent-counters") { db in
      // What `airlift-agent status` shows besides the updates: last check-in, bytes downloaded, last error.
      try db.execute(
        sql: """
          CREATE TABLE agent_counter (
            name TEXT PRIMARY KEY NOT NULL,
            number INTEGER NOT NULL DEFAULT 0,
            text TEXT,
            at DATETIME
          );
          """)
    }
    migrator.registerMigration("v5-handled-commands") { db in
      // Operator commands already carried out: a command delivered twice (QoS 1, or a polling device's
      // check-ins before its answer arrived) runs once and is answered again.
      try db.execute(
        sql: """
          CREATE TABLE handled_command (
            id TEXT PRIMARY KEY NOT NULL,
            ok BOOLEAN NOT NULL,
            message TEXT NOT NULL,
            at DATETIME NOT NULL
          );
          """)
    }
    migrator.registerMigration("v6-handler-processes") { db in
      // Process groups of handler commands that are running (an install script and what it started), so
      // a restarted agent ends them before it rolls back what they were doing.
      try db.execute(
        sql: """
          CREATE TABLE handler_process (
            pgid INTEGER PRIMARY KEY NOT NULL,
            boot_id TEXT NOT NULL,
            command TEXT NOT NULL,
            started_at DATETIME NOT NULL
          );
          """)
    }
    migrator.registerMigration("v7-transfer-tally") { db in
      // What each running update's download has cost so far, so the count survives a restart.
      try db.execute(
        sql: """
          CREATE TABLE transfer_tally (
            deployment TEXT PRIMARY KEY NOT NULL,
            round INTEGER NOT NULL,
            fetched INTEGER NOT NULL,
            reused INTEGER NOT NULL
          );
          """)
    }
    try migrator.migrate(db)
  }

  /// Opens the file, waiting up to 5 s while another process holds it: switching a new file to WAL takes a lock
  /// that SQLite's busy timeout does not wait for, so `airlift-agent status` run at the moment the agent starts
  /// (or a second reader) made the agent exit with "database is locked".
  private static func open(_ path: String, _ configuration: Configuration) throws -> DatabasePool {
    var attempt = 0
    while true {
      do {
        return try DatabasePool(path: path, configuration: configuration)
      } catch let error as DatabaseError
        where (error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED) && attempt < 50
      {
        attempt += 1
        Thread.sleep(forTimeInterval: 0.1)
      }
    }
  }

  public func update(_ deployment: String) throws -> UpdateRecord? {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM update_record WHERE deployment_id = ?", arguments: [deployment])
        .flatMap(Self.record(from:))
    }
  }

  /// Updates that were under way when the agent stopped, oldest first.
  public func unfinishedUpdates() throws -> [UpdateRecord] {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM update_record ORDER BY updated_at").compactMap(Self.record(from:))
        .filter { !$0.progress.phase.isFinished }
    }
  }

  /// The most recent update of `package` that ended `Successful`.
  public func lastSuccessfulUpdate(of package: String) throws -> UpdateRecord? {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM update_record ORDER BY updated_at DESC").lazy
        .compactMap(Self.record(from:))
        .first { $0.notice.release.package == package && $0.progress.phase == .successful }
    }
  }

  /// Stores a transition, queues its status report (when there is one)
  /// and, for a success, records the installed version — in one
  /// transaction, so a report is never lost and never describes an
  /// unstored state, and the inventory always matches the last success.
  public func save(
    _ notice: DeploymentNotice, progress: UpdateProgress, report: StatusReport?, topic: String, now: Date = Date()
  ) throws {
    try db.write { db in
      try db.execute(
        sql: """
          INSERT INTO update_record (deployment_id, notice, state, error, progress, updated_at) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT(deployment_id) DO UPDATE SET state = excluded.state, error = excluded.error,
            progress = excluded.progress, updated_at = excluded.updated_at
          """,
        arguments: [
          notice.key, String(decoding: Wire.encode(notice), as: UTF8.self), progress.phase.reported.rawValue,
          progress.error, Self.text(progress), now,
        ])
      if let report { try Self.enqueue(db, report: report, topic: topic, now: now) }
      if let error = progress.error, report != nil {
        try Self.setCounter(db, .lastError, text: "deployment \(notice.deployment): \(error)", at: now)
      }
      if progress.phase == .successful {
        try Self.markInstalled(db, notice.release, deployment: notice.deployment, now: now)
      }
    }
  }

  /// Records an operator rollback: the package runs `previous` again, the
  /// update that had installed it is `RolledBack`, and the report is queued.
  func recordRollback(
    _ record: UpdateRecord, to previous: String, report: StatusReport, topic: String, now: Date = Date()
  ) throws {
    var progress = record.progress
    progress.phase = .rolledBack
    progress.error = report.error
    try db.write { db in
      try db.execute(
        sql: "UPDATE update_record SET state = ?, error = ?, progress = ?, updated_at = ? WHERE deployment_id = ?",
        arguments: [
          progress.phase.reported.rawValue, progress.error, Self.text(progress), now,
          record.notice.key,
        ])
      try db.execute(
        sql: "UPDATE installed SET version = ?, previous_version = version, installed_at = ? WHERE package = ?",
        arguments: [previous, now, record.notice.release.package])
      try Self.enqueue(db, report: report, topic: topic, now: now)
    }
  }

  /// Queues a message (a command result) for the broker.
  func enqueue(topic: String, payload: [UInt8], now: Date = Date()) throws {
    try db.write { db in try Self.enqueue(db, topic: topic, payload: payload, now: now) }
  }

  /// Queues a status report without changing the stored state (progress, a wait).
  func enqueue(report: StatusReport, topic: String, now: Date = Date()) throws {
    try db.write { db in try Self.enqueue(db, report: report, topic: topic, now: now) }
  }

  /// Reports the broker acknowledged but the controller has not yet been
  /// seen to store, oldest first.
  func unconfirmedReports(limit: Int = 500) throws -> [StatusReport] {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT payload FROM sent_status ORDER BY seq LIMIT ?", arguments: [limit])
        .compactMap { try? Wire.decode(StatusReport.self, from: [UInt8]($0["payload"] as Data), topic: "agent store") }
    }
  }

  /// The controller has every report up to `seq`.
  func confirmReports(through seq: Int64) throws {
    try db.write { db in try db.execute(sql: "DELETE FROM sent_status WHERE seq <= ?", arguments: [seq]) }
  }

  /// Telemetry events the outbox may hold unsent; past it a new one is refused (the sender is told), so a program
  /// that sends in a loop while the device is offline cannot fill the disk.
  public static let maxQueuedEvents = 10_000

  /// Queues a telemetry event for the controller (checked first); it is sent with the reports, in order.
  public func enqueueEvent(_ event: DeviceEvent, now: Date = Date()) throws {
    try event.validate()
    try db.write { db in
      let queued =
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE topic LIKE '%/event'") ?? 0
      guard queued < Self.maxQueuedEvents else { throw AgentError.eventQueueFull(queued: queued) }
      try Self.enqueue(db, topic: Topics.device(event.device, .event), payload: Wire.encode(event), now: now)
    }
  }

  /// Messages waiting for the broker.
  public func outboxCount() throws -> Int {
    try db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0 }
  }

  func nextOutboxMessage() throws -> OutboxMessage? {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM outbox ORDER BY id LIMIT 1").map {
        OutboxMessage(id: $0["id"], topic: $0["topic"], payload: [UInt8]($0["payload"] as Data))
      }
    }
  }

  /// The broker has the message. Status reports move to `sent_status`
  /// until the controller is seen to have them (at most the last 2,000 are
  /// kept), so they can be sent again over HTTPS if it never got them.
  func removeOutboxMessage(_ id: Int64, now: Date = Date()) throws {
    try db.write { db in
      try db.execute(
        sql: """
          INSERT OR IGNORE INTO sent_status (seq, payload, sent_at)
          SELECT id, payload, ? FROM outbox WHERE id = ? AND topic LIKE '%/status'
          """, arguments: [now, id])
      try db.execute(sql: "DELETE FROM outbox WHERE id = ?", arguments: [id])
      try db.execute(
        sql: "DELETE FROM sent_status WHERE seq <= (SELECT MAX(seq) FROM sent_status) - 2000")
    }
  }

  public func installed() throws -> [String: String] {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT package, version FROM installed").reduce(into: [:]) {
        $0[$1["package"]] = $1["version"]
      }
    }
  }

  public func installedPackage(_ package: String) throws -> InstalledPackage? {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM installed WHERE package = ?", arguments: [package]).map {
        InstalledPackage(
          version: $0["version"], previousVersion: $0["previous_version"], deployment: $0["deployment_id"])
      }
    }
  }

  private static func markInstalled(_ db: Database, _ release: ReleaseRef, deployment: String, now: Date) throws {
    try db.execute(
      sql: """
        INSERT INTO installed (package, version, deployment_id, installed_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(package) DO UPDATE SET
          previous_version = CASE WHEN installed.version = excluded.version THEN installed.previous_version
            ELSE installed.version END,
          version = excluded.version, deployment_id = excluded.deployment_id, installed_at = excluded.installed_at
        """, arguments: [release.package, release.version, deployment, now])
  }

  private static func enqueue(_ db: Database, topic: String, payload: [UInt8], now: Date) throws {
    try db.execute(
      sql: "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
      arguments: [topic, Data(payload), now])
  }

  /// Queues a report numbered with its outbox id: increasing and never reused, across restarts.
  private static func enqueue(_ db: Database, report: StatusReport, topic: String, now: Date) throws {
    try enqueue(db, topic: topic, payload: [], now: now)
    var numbered = report
    numbered.seq = db.lastInsertedRowID
    try db.execute(
      sql: "UPDATE outbox SET payload = ? WHERE id = ?", arguments: [Data(Wire.encode(numbered)), numbered.seq])
  }

  private static func text(_ progress: UpdateProgress) -> String {
    String(decoding: (try? JSONEncoder().encode(progress)) ?? Data(), as: UTF8.self)
  }

  static func record(from row: Row) -> UpdateRecord? {
    let text: String = row["notice"]
    guard let notice = try? Wire.decode(DeploymentNotice.self, from: Array(text.utf8), topic: "agent store") else {
      return nil
    }
    if let stored: String = row["progress"],
      let progress = try? JSONDecoder().decode(UpdateProgress.self, from: Data(stored.utf8))
    {
      return UpdateRecord(notice: notice, progress: progress)
    }
    // Written before the progress column: the state is all there is.
    let state = DeviceState(rawValue: row["state"]) ?? .failed
    let phase = UpdatePhase.allCases.first { $0.reported == state } ?? .failed
    return UpdateRecord(notice: notice, progress: UpdateProgress(phase: phase, error: row["error"]))
  }

  /// How a command was answered, if this device carried it out already.
  func handledCommand(_ id: String) throws -> (ok: Bool, message: String)? {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT ok, message FROM handled_command WHERE id = ?", arguments: [id]).map {
        ($0["ok"], $0["message"])
      }
    }
  }

  /// Records a command's answer and queues it for the controller, in one transaction.
  func answerCommand(_ result: CommandResult, topic: String, now: Date = Date()) throws {
    try db.write { db in
      try db.execute(
        sql: "INSERT OR REPLACE INTO handled_command (id, ok, message, at) VALUES (?, ?, ?, ?)",
        arguments: [result.command, result.ok, result.message, now])
      try Self.enqueue(db, topic: topic, payload: Wire.encode(result), now: now)
    }
  }

  // MARK: Handler process groups

  /// Records a running handler command's process group.
  func recordProcessGroup(_ pgid: Int32, bootID: String, command: String, now: Date = Date()) throws {
    try db.write { db in
      try db.execute(
        sql: "INSERT OR REPLACE INTO handler_process (pgid, boot_id, command, started_at) VALUES (?, ?, ?, ?)",
        arguments: [pgid, bootID, command, now])
    }
  }

  func forgetProcessGroup(_ pgid: Int32) throws {
    try db.write { db in try db.execute(sql: "DELETE FROM handler_process WHERE pgid = ?", arguments: [pgid]) }
  }

  /// Process groups recorded as running: those a previous run of the agent left behind.
  public func processGroups() throws -> [(pgid: Int32, bootID: String, command: String)] {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT pgid, boot_id, command FROM handler_process ORDER BY started_at").map {
        ($0["pgid"], $0["boot_id"], $0["command"])
      }
    }
  }
}
