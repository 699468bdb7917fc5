import AirliftCore
import Foundation
import GRDB

extension ControllerStore {
  /// Records a check-in; returns true when the device was seen for the first time.
  @discardableResult
  public func recordCheckIn(_ checkIn: CheckIn, now: Date = Date()) throws -> Bool {
    try db.write { db in
      let known =
        try Row.fetchOne(db, sql: "SELECT 1 FROM device WHERE id = ?", arguments: [checkIn.device.rawValue]) != nil
      try db.execute(
        sql: """
          INSERT INTO device (id, online, attributes, installed, agent_version, first_seen, last_seen)
          VALUES (?, 1, ?, ?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET online = 1, attributes = excluded.attributes,
            installed = excluded.installed, agent_version = excluded.agent_version, last_seen = excluded.last_seen
          """,
        arguments: [
          checkIn.device.rawValue, JSONColumn.encode(checkIn.attributes), JSONColumn.encode(checkIn.installed),
          checkIn.agentVersion, now, now,
        ])
      return !known
    }
  }

  /// Records presence (the device's `online` message or its last will).
  public func recordPresence(_ device: DeviceID, online: Bool, now: Date = Date()) throws {
    try db.write { db in
      try db.execute(
        sql: """
          INSERT INTO device (id, online, first_seen, last_seen) VALUES (?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET online = excluded.online, last_seen = excluded.last_seen
          """, arguments: [device.rawValue, online, now, now])
    }
  }

  public func devices() throws -> [API.Device] {
    try db.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM device ORDER BY id").map(Self.device(from:))
    }
  }

  public func device(_ id: DeviceID) throws -> API.Device? {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM device WHERE id = ?", arguments: [id.rawValue]).map(Self.device(from:))
    }
  }

  static func device(from row: Row) -> API.Device {
    API.Device(
      id: row["id"], online: row["online"], attributes: JSONColumn.decode(row["attributes"]),
      installed: JSONColumn.decode(row["installed"]), agentVersion: row["agent_version"],
      firstSeen: row["first_seen"], lastSeen: row["last_seen"])
  }
}
