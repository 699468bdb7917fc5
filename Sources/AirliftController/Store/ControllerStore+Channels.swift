import AirliftCore
import Foundation

extension ControllerStore {
  /// Devices that follow `PACKAGE:TAG`.
  static func followers(_ channel: String, db: any SQLConnection) throws -> [String] {
    let parts = channel.split(separator: ":", maxSplits: 1).map(String.init)
    guard parts.count == 2 else { return [] }
    return try String.fetchAll(
      db,
      sql: """
        SELECT device.id FROM device, \(db.dialect.jsonEntries(of: "device.follows", as: "j"))
        WHERE j.key = ? AND j.value = ? ORDER BY device.id
        """, arguments: [parts[0], parts[1]])
  }

  /// Sets an update channel's default rollout plan (nil: every follower at once).
  public func setChannel(package: String, tag: String, rollout: RolloutPlan?, now: Date = Date()) async throws
    -> API.Channel
  {
    try await db.write { db in
      try db.execute(
        sql: """
          INSERT INTO channel (package, tag, rollout, updated_at) VALUES (?, ?, ?, ?)
          ON CONFLICT(package, tag) DO UPDATE SET rollout = excluded.rollout, updated_at = excluded.updated_at
          """,
        arguments: [
          package, tag, rollout.map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data(), as: UTF8.self) },
          now,
        ])
      return try Self.channel(package: package, tag: tag, db: db)!
    }
  }

  /// Channels: those configured and those devices follow.
  public func channels() async throws -> [API.Channel] {
    try await db.read { db in
      struct Name: Hashable, Comparable {
        var package: String
        var tag: String
        static func < (a: Name, b: Name) -> Bool { (a.package, a.tag) < (b.package, b.tag) }
      }
      let configured = try SQLRow.fetchAll(db, sql: "SELECT package, tag FROM channel").map {
        Name(package: $0["package"], tag: $0["tag"])
      }
      let followed = try SQLRow.fetchAll(
        db,
        sql:
          "SELECT DISTINCT j.key AS package, j.value AS tag FROM device, \(db.dialect.jsonEntries(of: "device.follows", as: "j"))"
      ).map { Name(package: $0["package"], tag: $0["tag"]) }
      // Names as a device sent them, checked when it did: one that is not a channel's is left out, never trusted.
      return try Set(configured + followed).sorted().compactMap { name in
        guard (try? Names.validatePackage(name.package)) != nil, (try? Names.validateTag(name.tag)) != nil else {
          return nil
        }
        return try Self.channel(package: name.package, tag: name.tag, db: db)
      }
    }
  }

  public func channel(package: String, tag: String) async throws -> API.Channel? {
    try await db.read { db in try Self.channel(package: package, tag: tag, db: db) }
  }

  static func channel(package: String, tag: String, db: any SQLConnection) throws -> API.Channel? {
    let row = try SQLRow.fetchOne(
      db, sql: "SELECT rollout FROM channel WHERE package = ? AND tag = ?", arguments: [package, tag])
    let followers = try followers("\(package):\(tag)", db: db)
    guard row != nil || !followers.isEmpty else { return nil }
    let plan = (row?["rollout"] as String?).flatMap { try? JSONDecoder().decode(RolloutPlan.self, from: Data($0.utf8)) }
    return API.Channel(package: package, tag: tag, rollout: plan, followers: followers)
  }

  /// The live deployments of a channel (a tag move replaces them).
  public func channelDeployments(_ channel: String) async throws -> [String] {
    try await db.read { db in
      try String.fetchAll(
        db, sql: "SELECT id FROM deployment WHERE target_channel = ? AND status IN (?, ?, ?)",
        arguments: [
          channel, DeploymentStatus.active.rawValue, DeploymentStatus.paused.rawValue,
          DeploymentStatus.scheduled.rawValue,
        ])
    }
  }
}
