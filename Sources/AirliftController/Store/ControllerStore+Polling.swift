import AirliftCore
import Foundation

/// Devices that poll over HTTPS instead of holding a broker session.
extension ControllerStore {
  /// Slack after a polling device's promised next check-in before it counts as offline.
  public static let pollingGrace: TimeInterval = 10

  /// Notes that a polling device was handed `deployment` at its check-in:
  /// its device timeout counts from the first time.
  public func markDelivered(_ deployment: String, to device: DeviceID, now: Date = Date()) async throws {
    try await db.write { db in
      try db.execute(
        sql: """
          UPDATE device_deployment SET delivered_at = ? WHERE deployment_id = ? AND device_id = ? AND delivered_at IS NULL
          """, arguments: [now, deployment, device.rawValue])
    }
  }

  /// Marks offline the polling devices that missed their promised check-in
  /// (by more than `pollingGrace`); returns their ids.
  @discardableResult
  public func markOverduePollers(now: Date = Date()) async throws -> [String] {
    // The scheduler asks every second: a read, and a write only when someone is overdue.
    let sql = "SELECT id FROM device WHERE transport = ? AND online = 1 AND next_check_in < ?"
    let arguments: SQLArguments = [DeviceTransport.https.rawValue, now.addingTimeInterval(-Self.pollingGrace)]
    let due = try await db.read { db in try String.fetchAll(db, sql: sql, arguments: arguments) }
    guard !due.isEmpty else { return [] }
    return try await db.write { db in
      let overdue = try String.fetchAll(db, sql: sql, arguments: arguments)
      for id in overdue {
        try db.execute(sql: "UPDATE device SET online = 0 WHERE id = ?", arguments: [id])
        try Self.logPresence(db, device: id, online: false, now: now)
      }
      return overdue
    }
  }
}
