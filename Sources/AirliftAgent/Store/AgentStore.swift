import AirliftCore
import Foundation
import GRDB

/// One deployment as the device saw it.
public struct UpdateRecord: Sendable, Equatable {
  public var notice: DeploymentNotice
  public var state: DeviceState
  public var error: String?
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
  private let db: DatabasePool

  public init(path: String) throws {
    var configuration = Configuration()
    configuration.busyMode = .timeout(5)
    db = try DatabasePool(path: path, configuration: configuration)
    var migrator = DatabaseMigrator()
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
    try migrator.migrate(db)
  }

  public func update(_ deployment: String) throws -> UpdateRecord? {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM update_record WHERE deployment_id = ?", arguments: [deployment])
        .flatMap(Self.record(from:))
    }
  }

  /// Updates that were under way when the agent stopped.
  public func unfinishedUpdates() throws -> [UpdateRecord] {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM update_record ORDER BY updated_at").compactMap(Self.record(from:))
        .filter { !$0.state.isTerminal }
    }
  }

  /// Stores a transition and queues its status report in one transaction,
  /// so a report is never lost and never describes an unstored state.
  public func transition(
    _ notice: DeploymentNotice, to state: DeviceState, report: StatusReport, topic: String, now: Date = Date()
  ) throws {
    try db.write { db in
      try db.execute(
        sql: """
          INSERT INTO update_record (deployment_id, notice, state, error, updated_at) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT(deployment_id) DO UPDATE SET state = excluded.state, error = excluded.error,
            updated_at = excluded.updated_at
          """,
        arguments: [
          notice.deployment, String(decoding: Wire.encode(notice), as: UTF8.self), state.rawValue, report.error, now,
        ])
      try Self.enqueue(db, topic: topic, payload: Wire.encode(report), now: now)
    }
  }

  /// Queues a progress report without changing the stored state.
  func enqueue(topic: String, payload: [UInt8], now: Date = Date()) throws {
    try db.write { db in try Self.enqueue(db, topic: topic, payload: payload, now: now) }
  }

  func nextOutboxMessage() throws -> OutboxMessage? {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM outbox ORDER BY id LIMIT 1").map {
        OutboxMessage(id: $0["id"], topic: $0["topic"], payload: [UInt8]($0["payload"] as Data))
      }
    }
  }

  func removeOutboxMessage(_ id: Int64) throws {
    try db.write { db in try db.execute(sql: "DELETE FROM outbox WHERE id = ?", arguments: [id]) }
  }

  public func installed() throws -> [String: String] {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT package, version FROM installed").reduce(into: [:]) {
        $0[$1["package"]] = $1["version"]
      }
    }
  }

  public func markInstalled(_ release: ReleaseRef, deployment: String, now: Date = Date()) throws {
    try db.write { db in
      try db.execute(
        sql: """
          INSERT INTO installed (package, version, deployment_id, installed_at) VALUES (?, ?, ?, ?)
          ON CONFLICT(package) DO UPDATE SET version = excluded.version, deployment_id = excluded.deployment_id,
            installed_at = excluded.installed_at
          """, arguments: [release.package, release.version, deployment, now])
    }
  }

  private static func enqueue(_ db: Database, topic: String, payload: [UInt8], now: Date) throws {
    try db.execute(
      sql: "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
      arguments: [topic, Data(payload), now])
  }

  private static func record(from row: Row) -> UpdateRecord? {
    let text: String = row["notice"]
    guard let state = DeviceState(rawValue: row["state"]),
      let notice = try? Wire.decode(DeploymentNotice.self, from: Array(text.utf8), topic: "agent store")
    else { return nil }
    return UpdateRecord(notice: notice, state: state, error: row["error"])
  }
}
