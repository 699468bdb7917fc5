import AirliftCore
import AirliftCrypto
import Foundation

/// Device properties: desired key/values set on a device or a group, merged
/// per device (its groups' in name order, then its own), and the version the
/// device reported applying.
extension ControllerStore {
  /// Where a property is set.
  public enum PropertyScope: String, Sendable {
    case device, group
  }

  /// Sets and removes keys of one device or group; refuses a result of more than `DeviceConfig.maxProperties`.
  public func setProperties(
    _ scope: PropertyScope, _ owner: String, _ change: API.SetProperties, now: Date = Date()
  ) async throws {
    try await db.write { db in
      if scope == .group { _ = try Self.group(owner, db: db) }
      for key in change.unset {
        try db.execute(
          sql: "DELETE FROM property WHERE scope = ? AND owner = ? AND key = ?",
          arguments: [scope.rawValue, owner, key])
      }
      for (key, value) in change.set.sorted(by: { $0.key < $1.key }) {
        try db.execute(
          sql: """
            INSERT INTO property (scope, owner, key, value, updated_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (scope, owner, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
            """, arguments: [scope.rawValue, owner, key, value, now])
      }
      let count = try Self.properties(scope, owner, db: db).count
      guard count <= DeviceConfig.maxProperties else {
        throw StoreError.tooManyProperties(owner: "\(scope.rawValue) \(owner)", count: count)
      }
    }
  }

  /// A group's own properties.
  public func groupProperties(_ group: String) async throws -> API.GroupProperties {
    try await db.read { db in
      _ = try Self.group(group, db: db)
      return API.GroupProperties(group: group, properties: try Self.properties(.group, group, db: db))
    }
  }

  /// What a device should have, where each part comes from, and what it reported.
  public func deviceProperties(_ device: DeviceID) async throws -> API.DeviceProperties {
    try await db.read { db in try Self.deviceProperties(device, db: db) }
  }

  /// Devices whose properties a group's change touches.
  public func members(of group: String) async throws -> [DeviceID] {
    try await db.read { db in
      try String.fetchAll(
        db, sql: "SELECT device_id FROM group_member WHERE group_name = ? ORDER BY device_id", arguments: [group]
      ).compactMap { try? DeviceID($0) }
    }
  }

  static func deviceProperties(_ device: DeviceID, db: any SQLConnection) throws -> API.DeviceProperties {
    let groups = try String.fetchAll(
      db, sql: "SELECT group_name FROM group_member WHERE device_id = ? ORDER BY group_name",
      arguments: [device.rawValue])
    var fromGroups: [String: [String: String]] = [:]
    var desired: [String: String] = [:]
    for group in groups {
      let properties = try properties(.group, group, db: db)
      guard !properties.isEmpty else { continue }
      fromGroups[group] = properties
      desired.merge(properties) { _, later in later }
    }
    let own = try properties(.device, device.rawValue, db: db)
    desired.merge(own) { _, mine in mine }
    let row = try SQLRow.fetchOne(
      db, sql: "SELECT config_version, config_reported_at FROM device WHERE id = ?", arguments: [device.rawValue])
    return API.DeviceProperties(
      device: device.rawValue, desired: desired, version: version(of: desired), own: own, groups: fromGroups,
      reported: row?["config_version"], reportedAt: row?["config_reported_at"])
  }

  static func properties(_ scope: PropertyScope, _ owner: String, db: any SQLConnection) throws -> [String: String] {
    var properties: [String: String] = [:]
    for row in try SQLRow.fetchAll(
      db, sql: "SELECT key, value FROM property WHERE scope = ? AND owner = ?", arguments: [scope.rawValue, owner])
    {
      properties[row["key"]] = row["value"] as String
    }
    return properties
  }

  /// The version naming a set of properties: the first 16 hex digits of the SHA-256 of its keys and values in
  /// key order (an empty set has one too, so "no properties" can be in sync).
  static func version(of properties: [String: String]) -> String {
    var bytes: [UInt8] = []
    for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
      bytes += Array(key.utf8) + [0] + Array(value.utf8) + [0]
    }
    return String(SHA256Hasher.hex(of: bytes).prefix(16))
  }
}
