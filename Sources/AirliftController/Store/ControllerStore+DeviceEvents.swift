import AirliftCore
import Foundation

/// Telemetry events from programs on devices: stored as sent, each device
/// keeping its newest `maxPerDevice`, none older than `maxAgeDays`.
extension ControllerStore {
  /// Stores a device's events in one transaction, then drops what is past that device's share. Events of a
  /// device the controller has never seen are refused: a device checks in before it sends anything else.
  public func recordDeviceEvents(
    _ events: [DeviceEvent], from device: DeviceID, retention: EventRetention, now: Date = Date()
  ) async throws {
    guard !events.isEmpty else { return }
    try await db.write { db in
      guard
        try SQLRow.fetchOne(db, sql: "SELECT id FROM device WHERE id = ?", arguments: [device.rawValue]) != nil
      else { throw StoreError.deviceNotFound(device.rawValue) }
      let insert = db.cachedStatement(
        sql: "INSERT INTO device_event (device_id, kind, device_time, received_at, data) VALUES (?, ?, ?, ?, ?)")
      for event in events {
        try insert.execute(arguments: [device.rawValue, event.kind, event.time, now, event.data.text])
      }
      try db.execute(
        sql: """
          DELETE FROM device_event WHERE device_id = ? AND id <= (
            SELECT id FROM device_event WHERE device_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
          """, arguments: [device.rawValue, device.rawValue, retention.maxPerDevice])
    }
  }

  /// Drops every event received more than `maxAgeDays` ago; returns how many went.
  @discardableResult
  public func pruneDeviceEvents(retention: EventRetention, now: Date = Date()) async throws -> Int {
    try await pruneDeviceEvents(
      before: now.addingTimeInterval(-Double(retention.maxAgeDays) * 86_400), batch: StatusRetention().batch)
  }

  /// A device's events, newest first: of one kind, since a time, at most `limit`.
  public func deviceEvents(_ device: DeviceID, kind: String?, since: Date?, limit: Int) async throws
    -> [API.StoredDeviceEvent]
  {
    try await db.read { db in
      guard
        try SQLRow.fetchOne(db, sql: "SELECT id FROM device WHERE id = ?", arguments: [device.rawValue]) != nil
      else { throw StoreError.deviceNotFound(device.rawValue) }
      var sql = "SELECT * FROM device_event WHERE device_id = ?"
      var arguments: SQLArguments = [device.rawValue]
      if let kind {
        sql += " AND kind = ?"
        arguments = arguments + [kind]
      }
      if let since {
        sql += " AND device_time >= ?"
        arguments = arguments + [since]
      }
      sql += " ORDER BY id DESC LIMIT ?"
      arguments = arguments + [limit]
      return try SQLRow.fetchAll(db, sql: sql, arguments: arguments).map { row in
        let text: String = row["data"]
        return API.StoredDeviceEvent(
          id: row["id"], device: row["device_id"], kind: row["kind"], time: row["device_time"],
          receivedAt: row["received_at"], data: (try? JSONValue.parse(text)) ?? .string(text))
      }
    }
  }
}
