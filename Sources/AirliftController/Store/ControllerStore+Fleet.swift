import AirliftCore
import Foundation

extension ControllerStore {
  public func fleetState() async throws -> API.FleetState {
    try await db.read { db in try Self.fleetState(db) }
  }

  static func fleetState(_ db: any SQLConnection) throws -> API.FleetState {
    guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM fleet_setting WHERE key = 'frozen'") else {
      return API.FleetState(frozen: false)
    }
    return API.FleetState(frozen: true, reason: row["value"], since: row["updated_at"])
  }

  /// The emergency stop: pauses every active deployment (remembering which)
  /// and keeps new and scheduled ones from starting until `thaw`. Returns
  /// the devices that had not started, to withdraw their notices.
  public func freeze(reason: String, now: Date = Date()) async throws -> (API.FleetState, pending: [DeviceID]) {
    try await db.write { db in
      try db.execute(
        sql: """
          INSERT INTO fleet_setting (key, value, updated_at) VALUES ('frozen', ?, ?)
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
          """,
        arguments: [reason, now])
      let active = try String.fetchAll(
        db, sql: "SELECT id FROM deployment WHERE status = ?", arguments: [DeploymentStatus.active.rawValue])
      var pending: [DeviceID] = []
      for id in active {
        try db.execute(
          sql: "UPDATE deployment SET status = ?, paused_by_freeze = 1, reason = ?, updated_at = ? WHERE id = ?",
          arguments: [DeploymentStatus.paused.rawValue, "fleet frozen: \(reason)", now, id])
        pending += try Self.startedPendingDevices(id, db: db)
      }
      return (try Self.fleetState(db), pending)
    }
  }

  /// Lifts the emergency stop: deployments the freeze paused run again.
  /// Returns the ids of the deployments resumed.
  public func thaw(now: Date = Date()) async throws -> [String] {
    try await db.write { db in
      try db.execute(sql: "DELETE FROM fleet_setting WHERE key = 'frozen'")
      let paused = try String.fetchAll(
        db, sql: "SELECT id FROM deployment WHERE status = ? AND paused_by_freeze = 1",
        arguments: [DeploymentStatus.paused.rawValue])
      for id in paused {
        try db.execute(
          sql: "UPDATE deployment SET status = ?, paused_by_freeze = 0, reason = NULL, updated_at = ? WHERE id = ?",
          arguments: [DeploymentStatus.active.rawValue, now, id])
      }
      return paused
    }
  }

  static func startedPendingDevices(_ id: String, db: any SQLConnection) throws -> [DeviceID] {
    try String.fetchAll(
      db,
      sql: "SELECT device_id FROM device_deployment WHERE deployment_id = ? AND state = ? AND released_at IS NOT NULL",
      arguments: [id, DeviceState.pending.rawValue]
    ).compactMap { try? DeviceID($0) }
  }
}
