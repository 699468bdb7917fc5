import AirliftCore
import Foundation

/// Status events: the intake's batches, and reading them back.
extension ControllerStore {
  /// Stores a batch of status events in one transaction and moves each
  /// device's state when the move is allowed (duplicates and late events
  /// never move a finished device back). Returns the events whose
  /// deployment or device entry is unknown (only each device's newest
  /// `strayEventsKept` of those are kept).
  @discardableResult
  public func recordStatuses(_ batch: [(DeviceID, StatusReport)], now: Date = Date()) async throws -> [(
    DeviceID, StatusReport
  )] {
    try await db.write { db in try Self.storeStatuses(batch, now: now, db: db) }
  }

  /// One device's entry in one deployment while a batch is applied.
  private struct BatchEntry {
    var state: DeviceState
    let round: Int
    var percent: Int?
    var error: String?
    var attempts: Int
    /// The device's number of the report that set `state` (nil: set by the controller, or an unnumbered report).
    var seq: Int64?
    /// What the download cost so far: the counts only grow within a round, so the largest seen is the latest.
    var transfer: TransferBytes?
    var changed = false
  }

  private struct EntryKey: Hashable {
    let deployment: String
    let device: String
  }

  /// Every event is inserted; each device entry is read once and written
  /// once per batch however many of its events the batch holds; only a
  /// deployment where a device finished is checked for completion.
  private static func storeStatuses(_ batch: [(DeviceID, StatusReport)], now: Date, db: any SQLConnection) throws -> [(
    DeviceID, StatusReport
  )] {
    var unknown: [(DeviceID, StatusReport)] = []
    var entries: [EntryKey: BatchEntry?] = [:]
    var finishing: Set<String> = []
    let fresh = try insertEvents(batch, now: now, db: db)
    let select = db.cachedStatement(
      sql:
        """
        SELECT state, round, percent, error, attempts, state_seq, bytes_total, bytes_fetched, bytes_reused
        FROM device_deployment WHERE deployment_id = ? AND device_id = ?
        """
    )
    for (index, (device, report)) in batch.enumerated() {
      // A report the controller already has (a QoS 1 repeat, or one the device sent again) changes nothing.
      guard fresh[index] else { continue }
      let key = EntryKey(deployment: report.deployment, device: device.rawValue)
      if entries[key] == nil {
        let row = try SQLRow.fetchOne(select, arguments: [report.deployment, device.rawValue])
        entries[key] = row.flatMap { row in
          DeviceState(rawValue: row["state"]).map {
            BatchEntry(
              state: $0, round: row["round"], percent: row["percent"], error: row["error"], attempts: row["attempts"],
              seq: row["state_seq"], transfer: TransferBytes(row))
          }
        }
      }
      guard var entry = entries[key] ?? nil else {
        unknown.append((device, report))
        continue
      }
      // A late report of an earlier try of the update moves nothing.
      guard (report.round ?? 1) >= entry.round else { continue }
      if let merged = TransferBytes.merge(entry.transfer, report), merged != entry.transfer {
        entry.transfer = merged
        entry.changed = true
        entries[key] = entry
      }
      guard DeviceState.reportMoves(from: entry.state, currentSeq: entry.seq, to: report.state, seq: report.seq) else {
        continue
      }
      entry.state = report.state
      entry.seq = report.seq ?? entry.seq
      entry.percent = (report.state == .successful ? 100 : report.percent) ?? entry.percent
      entry.error = report.error
      entry.attempts = max(entry.attempts, report.attempt ?? 1)
      entry.changed = true
      entries[key] = entry
      if report.state.isTerminal { finishing.insert(report.deployment) }
    }
    let update = db.cachedStatement(
      sql: """
        UPDATE device_deployment SET state = ?, percent = ?, error = ?, updated_at = ?, attempts = ?,
          started_at = COALESCE(started_at, ?), state_seq = ?, bytes_total = ?, bytes_fetched = ?, bytes_reused = ?
        WHERE deployment_id = ? AND device_id = ?
        """)
    for (key, entry) in entries {
      guard let entry, entry.changed else { continue }
      try update.execute(arguments: [
        entry.state.rawValue, entry.percent, entry.error, now, entry.attempts, now, entry.seq, entry.transfer?.total,
        entry.transfer?.fetched, entry.transfer?.reused, key.deployment, key.device,
      ])
    }
    for id in finishing { try completeIfFinished(id, db: db) }
    for device in Set(unknown.map(\.0.rawValue)) { try trimStrayEvents(of: device, db: db) }
    return unknown
  }

  /// Events a device sent for deployments it is not part of (unknown ids, other devices' deployments): only the
  /// newest of them are kept, so no device can grow the database through them.
  public static let strayEventsKept = 50

  private static func trimStrayEvents(of device: String, db: any SQLConnection) throws {
    let stray = """
      device_id = ? AND NOT EXISTS (SELECT 1 FROM device_deployment AS entry
        WHERE entry.deployment_id = status_event.deployment_id AND entry.device_id = status_event.device_id)
      """
    try db.execute(
      sql: """
        DELETE FROM status_event WHERE \(stray) AND id NOT IN (
          SELECT id FROM (SELECT id FROM status_event WHERE \(stray) ORDER BY id DESC LIMIT \(strayEventsKept)) AS newest)
        """, arguments: [device, device])
  }

  /// Inserts a batch's events, many rows per statement (a round trip per
  /// chunk, not per event, which is what PostgreSQL's throughput hangs on);
  /// for each event, whether it was new. One already stored — or the second
  /// copy of one within the batch — is not.
  private static func insertEvents(_ batch: [(DeviceID, StatusReport)], now: Date, db: any SQLConnection) throws
    -> [Bool]
  {
    var fresh = Array(repeating: false, count: batch.count)
    let chunkSize = 400
    for start in stride(from: 0, to: batch.count, by: chunkSize) {
      let chunk = batch[start..<min(batch.count, start + chunkSize)]
      var values: [SQLValue] = []
      values.reserveCapacity(chunk.count * 14)
      for (device, report) in chunk {
        values +=
          SQLArguments([
            report.deployment, device.rawValue, report.state.rawValue, report.stage, report.bytes, report.total,
            report.percent, report.attempt, report.error, report.time, now, report.seq, report.fetched, report.reused,
          ]).values
      }
      let rows = try SQLRow.fetchAll(
        db,
        sql: """
          INSERT INTO status_event (deployment_id, device_id, state, stage, bytes, total, percent, attempt,
            error, device_time, received_at, seq, fetched, reused) VALUES \(
            Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
          ON CONFLICT DO NOTHING RETURNING device_id, seq
          """, arguments: SQLArguments(values: values))
      var stored = Set(
        rows.compactMap { row -> String? in (row["seq"] as Int64?).map { "\(row["device_id"] as String)#\($0)" } })
      for (offset, (device, report)) in chunk.enumerated() {
        guard let seq = report.seq else {
          fresh[start + offset] = true
          continue
        }
        fresh[start + offset] = stored.remove("\(device.rawValue)#\(seq)") != nil
      }
    }
    return fresh
  }

  /// Every status event of one device in one deployment, oldest first.
  public func statusEvents(deployment: String, device: DeviceID) async throws -> [StatusReport] {
    try await db.read { db in
      try SQLRow.fetchAll(
        db,
        // In the order things happened: a report that arrived late (sent again after a loss) sits where it belongs.
        sql: """
          SELECT * FROM status_event WHERE deployment_id = ? AND device_id = ?
          ORDER BY COALESCE(device_time, received_at), seq, id
          """,
        arguments: [deployment, device.rawValue]
      ).compactMap { row in
        guard let state = DeviceState(rawValue: row["state"]) else { return nil }
        var report = StatusReport(
          deployment: row["deployment_id"], state: state, stage: row["stage"], bytes: row["bytes"], total: row["total"],
          percent: row["percent"], attempt: row["attempt"], error: row["error"],
          time: row["device_time"] ?? row["received_at"], seq: row["seq"])
        report.fetched = row["fetched"]
        report.reused = row["reused"]
        return report
      }
    }
  }

  /// Stores an event; false when the device's report with this sequence number is already stored.
  @discardableResult
  static func insertEvent(
    _ db: any SQLConnection, deployment: String, device: String, state: DeviceState, report: StatusReport? = nil,
    error: String? = nil, now: Date
  ) throws -> Bool {
    let inserted = try db.execute(
      sql: """
        INSERT INTO status_event (deployment_id, device_id, state, stage, bytes, total, percent, attempt,
          error, device_time, received_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO NOTHING
        """,
      arguments: [
        deployment, device, state.rawValue, report?.stage, report?.bytes, report?.total, report?.percent,
        report?.attempt, report?.error ?? error, report?.time, now, report?.seq,
      ])
    return inserted > 0
  }

  /// The report sequence numbers in (`after`, `through`] stored for `device`.
  public func storedStatusSeqs(device: DeviceID, after: Int64, through: Int64) async throws -> [Int64] {
    try await db.read { db in
      try Int64.fetchAll(
        db, sql: "SELECT seq FROM status_event WHERE device_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT 10000",
        arguments: [device.rawValue, after, through])
    }
  }
}

extension TransferBytes {
  /// The counts a `device_deployment` row holds, nil before the device reported any.
  init?(_ row: SQLRow) {
    guard let total: Int64 = row["bytes_total"], let fetched: Int64 = row["bytes_fetched"] else { return nil }
    self.init(total: total, fetched: fetched, reused: row["bytes_reused"] ?? 0)
  }
}
