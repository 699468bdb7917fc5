import AirliftCore
import Foundation

extension ControllerStore {
  /// Records a rollback command for a device that reports `package` installed.
  public func createRollbackCommand(
    device: DeviceID, package: String, reason: String?, now: Date = Date()
  ) async throws -> API.DeviceCommand {
    try await db.write { db in
      guard
        let row = try SQLRow.fetchOne(
          db, sql: "SELECT installed FROM device WHERE id = ?", arguments: [device.rawValue])
      else { throw StoreError.deviceNotFound(device.rawValue) }
      let installed = JSONColumn.decode(row["installed"])
      guard installed[package] != nil else {
        throw StoreError.packageNotInstalled(device: device.rawValue, package: package, installed: installed)
      }
      let command = API.DeviceCommand(
        id: "cmd-" + UUID().uuidString.lowercased().prefix(12), device: device.rawValue, action: "rollback",
        package: package, reason: reason, status: .sent, message: nil, createdAt: now, finishedAt: nil)
      try db.execute(
        sql: """
          INSERT INTO device_command (id, device_id, action, package, reason, status, created_at)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [command.id, command.device, command.action, package, reason, command.status.rawValue, now])
      return command
    }
  }

  /// Stores a device's answer; answers for another device's command are ignored.
  public func recordCommandResult(_ result: CommandResult, from device: DeviceID, now: Date = Date()) async throws {
    try result.validate()
    try await db.write { db in
      try db.execute(
        sql: """
          UPDATE device_command SET status = ?, message = ?, finished_at = ?
          WHERE id = ? AND device_id = ? AND status = 'sent'
          """,
        arguments: [
          (result.ok ? API.DeviceCommand.Status.succeeded : .failed).rawValue, result.message, now, result.command,
          device.rawValue,
        ])
    }
  }

  public func command(_ id: String, device: DeviceID) async throws -> API.DeviceCommand {
    try await db.read { db in
      guard
        let row = try SQLRow.fetchOne(
          db, sql: "SELECT * FROM device_command WHERE id = ? AND device_id = ?", arguments: [id, device.rawValue])
      else { throw StoreError.commandNotFound(id) }
      return API.DeviceCommand(
        id: row["id"], device: row["device_id"], action: row["action"], package: row["package"],
        reason: row["reason"], status: API.DeviceCommand.Status(rawValue: row["status"]) ?? .sent,
        message: row["message"], createdAt: row["created_at"], finishedAt: row["finished_at"])
    }
  }

  /// The commands a device has not answered yet, oldest first (for a polling device's check-in).
  public func pendingCommands(for device: DeviceID) async throws -> [DeviceCommand] {
    try await db.read { db in
      try SQLRow.fetchAll(
        db,
        sql:
          "SELECT id, action, package, reason FROM device_command WHERE device_id = ? AND status = 'sent' ORDER BY created_at",
        arguments: [device.rawValue]
      ).compactMap { row in
        guard let action = DeviceCommand.Action(rawValue: row["action"]) else { return nil }
        return DeviceCommand(id: row["id"], action: action, package: row["package"], reason: row["reason"])
      }
    }
  }
}
