import AirliftCore
import Foundation

/// What `airlift device list` filters by; every set field must match.
public struct DeviceFilter: Sendable, Equatable {
  public var group: String?
  /// An installed app (package name); with `version`, its version must match.
  public var app: String?
  public var version: VersionRequirement?
  public var attributes: [String: String]
  public var online: Bool?
  /// A policy expression the device must match.
  public var expression: PolicyExpression?

  public init(
    group: String? = nil, app: String? = nil, version: VersionRequirement? = nil, attributes: [String: String] = [:],
    online: Bool? = nil
  ) {
    self.group = group
    self.app = app
    self.version = version
    self.attributes = attributes
    self.online = online
  }

  func matches(_ device: API.Device) -> Bool {
    if let online, device.online != online { return false }
    if let expression, !expression.matches(Self.subject(device)) { return false }
    for (key, value) in attributes where device.attributes[key] != value { return false }
    if let app {
      guard let installed = device.installed[app] else { return false }
      if let version {
        guard let parsed = try? SemanticVersion(installed), version.isSatisfied(by: parsed) else { return false }
      }
    }
    return true
  }

  /// What a policy expression sees of a device.
  static func subject(_ device: API.Device) -> PolicySubject {
    PolicySubject(attributes: device.attributes, installed: device.installed)
  }
}

extension ControllerStore {
  /// Records a check-in; returns true for the device's first check-in (its
  /// presence may have been seen just before).
  ///
  /// For a device on MQTT, whether it is online is its presence topic's to
  /// say: check-ins and presence arrive on separate streams, so a check-in
  /// handled after the last will must not mark the device online again. A
  /// polling device is online because it just checked in.
  @discardableResult
  public func recordCheckIn(_ checkIn: CheckIn, now: Date = Date()) async throws -> Bool {
    try await db.write { db in
      let known =
        try SQLRow.fetchOne(
          db, sql: "SELECT 1 FROM device WHERE id = ? AND agent_version IS NOT NULL",
          arguments: [checkIn.device.rawValue]) != nil
      try db.execute(
        sql: """
          INSERT INTO device (id, online, attributes, installed, agent_version, first_seen, last_seen, follows, apps,
            transport, next_check_in, problems, compatible, config_version, config_reported_at)
          VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET online = CASE WHEN excluded.transport = 'mqtt' THEN device.online ELSE 1 END,
            attributes = excluded.attributes,
            installed = excluded.installed, agent_version = excluded.agent_version, last_seen = excluded.last_seen,
            follows = excluded.follows, apps = excluded.apps, transport = excluded.transport,
            next_check_in = excluded.next_check_in, problems = excluded.problems, compatible = excluded.compatible,
            config_reported_at = CASE WHEN excluded.config_version IS DISTINCT FROM device.config_version
              THEN excluded.config_reported_at ELSE device.config_reported_at END,
            config_version = excluded.config_version
          """,
        arguments: [
          checkIn.device.rawValue, JSONColumn.encode(checkIn.attributes), JSONColumn.encode(checkIn.installed),
          checkIn.agentVersion, now, now, JSONColumn.encode(checkIn.follows ?? [:]),
          checkIn.apps.map { String(decoding: Wire.encode($0), as: UTF8.self) },
          (checkIn.transport ?? .mqtt).rawValue, checkIn.nextCheckIn,
          checkIn.problems?.nilIfEmpty.map { String(decoding: Wire.encode($0), as: UTF8.self) },
          checkIn.compatible, checkIn.configVersion, checkIn.configVersion.map { _ in now },
        ])
      try Self.updateDynamicGroups(
        for: PolicySubject(attributes: checkIn.attributes, installed: checkIn.installed),
        device: checkIn.device.rawValue,
        db: db)
      return !known
    }
  }

  /// Records presence (the device's `online` message or its last will).
  public func recordPresence(_ device: DeviceID, online: Bool, now: Date = Date()) async throws {
    try await db.write { db in
      try db.execute(
        sql: """
          INSERT INTO device (id, online, first_seen, last_seen) VALUES (?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET online = excluded.online, last_seen = excluded.last_seen
          """, arguments: [device.rawValue, online, now, now])
      try Self.logPresence(db, device: device.rawValue, online: online, now: now)
    }
  }

  public func devices(_ filter: DeviceFilter = DeviceFilter()) async throws -> [API.Device] {
    try await db.read { db in
      let rows: [SQLRow]
      if let group = filter.group {
        guard try SQLRow.fetchOne(db, sql: "SELECT 1 FROM device_group WHERE name = ?", arguments: [group]) != nil
        else {
          throw StoreError.groupNotFound(group)
        }
        rows = try SQLRow.fetchAll(
          db,
          sql: """
            SELECT device.* FROM device JOIN group_member ON group_member.device_id = device.id
            WHERE group_member.group_name = ? ORDER BY device.id
            """, arguments: [group])
      } else {
        rows = try SQLRow.fetchAll(db, sql: "SELECT * FROM device ORDER BY id")
      }
      return rows.map(Self.device(from:)).filter(filter.matches)
    }
  }

  /// The ids of `ids` that no device has checked in with, in the order given.
  public func unknownDevices(_ ids: [String]) async throws -> [String] {
    try await db.read { db in
      var known = Set<String>()
      for start in stride(from: 0, to: ids.count, by: 500) {
        let chunk = Array(ids[start..<min(start + 500, ids.count)])
        let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
        known.formUnion(
          try String.fetchAll(
            db, sql: "SELECT id FROM device WHERE id IN (\(marks))",
            arguments: SQLArguments(values: chunk.map { SQLValue.text($0) })))
      }
      return ids.filter { !known.contains($0) }
    }
  }

  /// A device with its groups and its deployment history, newest first.
  public func deviceDetail(_ id: DeviceID) async throws -> API.DeviceDetail? {
    try await db.read { db in
      guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM device WHERE id = ?", arguments: [id.rawValue]) else {
        return nil
      }
      let groups = try String.fetchAll(
        db, sql: "SELECT group_name FROM group_member WHERE device_id = ? ORDER BY group_name",
        arguments: [id.rawValue])
      let history = try SQLRow.fetchAll(
        db,
        sql: """
          SELECT device_deployment.*, release.package, release.version FROM device_deployment
          JOIN deployment ON deployment.id = device_deployment.deployment_id
          JOIN release ON release.id = deployment.release_id
          WHERE device_deployment.device_id = ? ORDER BY deployment.created_at DESC, deployment.rowid DESC
          """, arguments: [id.rawValue]
      ).map {
        API.HistoryEntry(
          deployment: $0["deployment_id"], release: ReleaseRef(package: $0["package"], version: $0["version"]),
          state: DeviceState(rawValue: $0["state"]) ?? .pending, error: $0["error"], attempts: $0["attempts"],
          updatedAt: $0["updated_at"])
      }
      return API.DeviceDetail(
        device: Self.device(from: row), groups: groups, history: history,
        properties: try Self.deviceProperties(id, db: db))
    }
  }

  // MARK: Groups

  /// Creates a static group, or with `expression` a dynamic one whose
  /// members are the devices matching it now and at each check-in.
  public func createGroup(_ name: String, expression: PolicyExpression? = nil, now: Date = Date()) async throws
    -> API.Group
  {
    try await db.write { db in
      if try SQLRow.fetchOne(db, sql: "SELECT 1 FROM device_group WHERE name = ?", arguments: [name]) != nil {
        throw StoreError.groupExists(name)
      }
      try db.execute(
        sql: "INSERT INTO device_group (name, created_at, expression) VALUES (?, ?, ?)",
        arguments: [name, now, expression?.text])
      if let expression {
        for row in try SQLRow.fetchAll(db, sql: "SELECT * FROM device") {
          let device = Self.device(from: row)
          if expression.matches(DeviceFilter.subject(device)) {
            try db.execute(
              sql: "INSERT INTO group_member (group_name, device_id) VALUES (?, ?)", arguments: [name, device.id])
          }
        }
      }
      return try Self.group(name, db: db)
    }
  }

  /// Re-evaluates every dynamic group for one device (at its check-in).
  static func updateDynamicGroups(for subject: PolicySubject, device: String, db: any SQLConnection) throws {
    for row in try SQLRow.fetchAll(db, sql: "SELECT name, expression FROM device_group WHERE expression IS NOT NULL") {
      let name: String = row["name"]
      guard let expression = try? PolicyExpression(row["expression"] as String) else { continue }
      if expression.matches(subject) {
        try db.execute(
          sql: "INSERT INTO group_member (group_name, device_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
          arguments: [name, device])
      } else {
        try db.execute(
          sql: "DELETE FROM group_member WHERE group_name = ? AND device_id = ?", arguments: [name, device])
      }
    }
  }

  public func groups() async throws -> [API.Group] {
    try await db.read { db in
      try String.fetchAll(db, sql: "SELECT name FROM device_group ORDER BY name").map { try Self.group($0, db: db) }
    }
  }

  public func group(_ name: String) async throws -> API.Group {
    try await db.read { db in try Self.group(name, db: db) }
  }

  /// Adds devices (known or not yet seen) to a static group.
  public func addToGroup(_ name: String, devices: [DeviceID]) async throws -> API.Group {
    try await db.write { db in
      try Self.requireStatic(try Self.group(name, db: db))
      for device in devices {
        try db.execute(
          sql: "INSERT INTO group_member (group_name, device_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
          arguments: [name, device.rawValue])
      }
      return try Self.group(name, db: db)
    }
  }

  public func removeFromGroup(_ name: String, devices: [DeviceID]) async throws -> API.Group {
    try await db.write { db in
      try Self.requireStatic(try Self.group(name, db: db))
      for device in devices {
        try db.execute(
          sql: "DELETE FROM group_member WHERE group_name = ? AND device_id = ?", arguments: [name, device.rawValue])
      }
      return try Self.group(name, db: db)
    }
  }

  public func deleteGroup(_ name: String) async throws {
    try await db.write { db in
      _ = try Self.group(name, db: db)
      try db.execute(sql: "DELETE FROM device_group WHERE name = ?", arguments: [name])
    }
  }

  static func group(_ name: String, db: any SQLConnection) throws -> API.Group {
    guard
      let row = try SQLRow.fetchOne(
        db, sql: "SELECT created_at, expression, \"window\", time_zone FROM device_group WHERE name = ?",
        arguments: [name])
    else { throw StoreError.groupNotFound(name) }
    let devices = try String.fetchAll(
      db, sql: "SELECT device_id FROM group_member WHERE group_name = ? ORDER BY device_id", arguments: [name])
    return API.Group(
      name: name, devices: devices, createdAt: row["created_at"], expression: row["expression"],
      window: row["window"], timeZone: row["time_zone"])
  }

  /// Sets (or with nil clears) a group's maintenance window.
  public func setGroupWindow(_ name: String, window: UpdateWindow?, timeZone: String?) async throws -> API.Group {
    try await db.write { db in
      _ = try Self.group(name, db: db)
      try db.execute(
        sql: "UPDATE device_group SET \"window\" = ?, time_zone = ? WHERE name = ?",
        arguments: [window?.expression, window == nil ? nil : timeZone, name])
      return try Self.group(name, db: db)
    }
  }

  /// Whether one device is in a group whose maintenance window is closed at
  /// `now` (the check-in path: only that device's groups are read).
  static func waitsForWindow(_ device: String, now: Date, db: any SQLConnection) throws -> Bool {
    let rows = try SQLRow.fetchAll(
      db,
      sql: """
        SELECT device_group."window", device_group.time_zone FROM device_group
        JOIN group_member ON group_member.group_name = device_group.name
        WHERE group_member.device_id = ? AND device_group."window" IS NOT NULL
        """, arguments: [device])
    return rows.contains { !isOpen(window: $0["window"], zone: $0["time_zone"], at: now) }
  }

  private static func isOpen(window text: String, zone: String?, at now: Date) -> Bool {
    guard let window = try? UpdateWindow(text) else { return true }
    return window.contains(now, in: zone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!)
  }

  /// Devices in a group whose maintenance window is closed at `now`: they are not started.
  static func outsideWindow(now: Date, db: any SQLConnection) throws -> Set<String> {
    var closed: Set<String> = []
    for row in try SQLRow.fetchAll(
      db, sql: "SELECT name, \"window\", time_zone FROM device_group WHERE \"window\" IS NOT NULL")
    {
      guard !isOpen(window: row["window"], zone: row["time_zone"], at: now) else { continue }
      closed.formUnion(
        try String.fetchAll(
          db, sql: "SELECT device_id FROM group_member WHERE group_name = ?", arguments: [row["name"] as String]))
    }
    return closed
  }

  private static func requireStatic(_ group: API.Group) throws {
    if let expression = group.expression { throw StoreError.dynamicGroup(group.name, expression: expression) }
  }

  static func device(from row: SQLRow) -> API.Device {
    let follows = JSONColumn.decode(row["follows"])
    return API.Device(
      id: row["id"], online: row["online"], attributes: JSONColumn.decode(row["attributes"]),
      installed: JSONColumn.decode(row["installed"]), agentVersion: row["agent_version"],
      firstSeen: row["first_seen"], lastSeen: row["last_seen"],
      channels: follows.isEmpty ? nil : follows,
      revokedAt: row["revoked_at"],
      apps: (row["apps"] as String?).flatMap { try? JSONDecoder().decode([AppState].self, from: Data($0.utf8)) },
      transport: (row["transport"] as String?).flatMap(DeviceTransport.init(rawValue:)),
      nextCheckIn: row["next_check_in"],
      problems: (row["problems"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) },
      compatible: row["compatible"],
      repositories: (row["repositories"] as String?).flatMap {
        try? JSONDecoder().decode([String].self, from: Data($0.utf8))
      })
  }
}
