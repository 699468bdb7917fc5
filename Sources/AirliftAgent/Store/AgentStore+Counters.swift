import AirliftCore
import Foundation
import GRDB

/// The agent's counters kept beside its updates, so `airlift-agent status`
/// can say them even when the agent is not running.
enum AgentCounter: String {
  case lastCheckIn = "last_check_in"
  case bytesDownloaded = "bytes_downloaded"
  case lastError = "last_error"
}

extension AgentStore {
  /// The controller has the device's check-in.
  func recordCheckIn(at now: Date = Date()) throws {
    try db.write { db in try Self.setCounter(db, .lastCheckIn, at: now) }
  }

  /// Something went wrong that a person looking at the device should see.
  func recordError(_ text: String, at now: Date = Date()) throws {
    try db.write { db in try Self.setCounter(db, .lastError, text: text, at: now) }
  }

  /// Adds bytes moved by a download (counted since the store was made).
  func addDownloaded(bytes: Int64) throws {
    guard bytes > 0 else { return }
    try db.write { db in
      try db.execute(
        sql: """
          INSERT INTO agent_counter (name, number) VALUES (?, ?)
          ON CONFLICT(name) DO UPDATE SET number = number + excluded.number
          """, arguments: [AgentCounter.bytesDownloaded.rawValue, bytes])
    }
  }

  /// The download cost stored for `deployment` in `round` (zero when none is, or it was another round's).
  func transferTally(deployment: String, round: Int) throws -> (fetched: Int64, reused: Int64) {
    try db.read { db in
      guard
        let row = try Row.fetchOne(
          db, sql: "SELECT fetched, reused FROM transfer_tally WHERE deployment = ? AND round = ?",
          arguments: [deployment, round])
      else { return (0, 0) }
      return (row["fetched"], row["reused"])
    }
  }

  func recordTransfer(deployment: String, round: Int, fetched: Int64, reused: Int64) throws {
    try db.write { db in
      try db.execute(
        sql: """
          INSERT INTO transfer_tally (deployment, round, fetched, reused) VALUES (?, ?, ?, ?)
          ON CONFLICT(deployment) DO UPDATE SET round = excluded.round, fetched = excluded.fetched,
            reused = excluded.reused
          """, arguments: [deployment, round, fetched, reused])
    }
  }

  func forgetTransfer(deployment: String) throws {
    try db.write { db in try db.execute(sql: "DELETE FROM transfer_tally WHERE deployment = ?", arguments: [deployment])
    }
  }

  static func setCounter(_ db: Database, _ counter: AgentCounter, text: String? = nil, at: Date) throws {
    try db.execute(
      sql: """
        INSERT INTO agent_counter (name, text, at) VALUES (?, ?, ?)
        ON CONFLICT(name) DO UPDATE SET text = excluded.text, at = excluded.at
        """, arguments: [counter.rawValue, text, at])
  }

  /// The device as the store knows it; `running` and `connected` come from
  /// the live agent when it answers.
  public func status(device: String, running: Bool = false, connected: Bool? = nil) throws -> AgentStatus {
    try db.read { db in
      let counters = try Row.fetchAll(db, sql: "SELECT * FROM agent_counter").reduce(into: [String: Row]()) {
        $0[$1["name"]] = $1
      }
      let rows = try Row.fetchAll(db, sql: "SELECT * FROM update_record ORDER BY updated_at DESC")
      let records = rows.compactMap { row in Self.record(from: row).map { ($0, row["updated_at"] as Date) } }
      let current = records.first { !$0.0.progress.phase.isFinished } ?? records.first
      let installed = try Row.fetchAll(db, sql: "SELECT package, version FROM installed").reduce(into: [:]) {
        $0[$1["package"] as String] = $1["version"] as String
      }
      return AgentStatus(
        device: device, agentVersion: Agent.version, running: running, connected: connected,
        state: current.map { $0.0.progress.phase.isFinished ? "Idle" : $0.0.state.rawValue } ?? "Idle",
        update: current.map {
          AgentStatus.Update(
            deployment: $0.0.notice.deployment, release: $0.0.notice.release.description,
            state: $0.0.state.rawValue, error: $0.0.progress.error, updatedAt: $0.1)
        },
        installed: installed,
        lastCheckIn: counters[AgentCounter.lastCheckIn.rawValue]?["at"],
        queueLength: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0,
        bytesDownloaded: counters[AgentCounter.bytesDownloaded.rawValue]?["number"] ?? 0,
        lastError: counters[AgentCounter.lastError.rawValue]?["text"],
        lastErrorAt: counters[AgentCounter.lastError.rawValue]?["at"])
    }
  }
}
