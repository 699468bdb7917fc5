import AirliftCore
import Foundation

/// Distribution policies: releases offered to idle devices that match them.
extension ControllerStore {
  /// The release a device is offered by distribution policies for `package`:
  /// the newest one with a policy it matches that is newer than what it runs.
  static func policyOffer(for device: API.Device, package: String, db: any SQLConnection) throws -> ReleaseRef? {
    guard device.mayRead(package), let installed = device.installed[package].flatMap({ try? SemanticVersion($0) })
    else { return nil }
    let subject = DeviceFilter.subject(device)
    let candidates = try SQLRow.fetchAll(
      db, sql: "SELECT version, policy FROM release WHERE package = ? AND policy IS NOT NULL", arguments: [package]
    ).compactMap { row -> (SemanticVersion, PolicyExpression)? in
      guard let version = try? SemanticVersion(row["version"] as String),
        let policy = try? PolicyExpression(row["policy"] as String)
      else { return nil }
      return (version, policy)
    }.sorted { $0.0 > $1.0 }
    guard let (version, _) = candidates.first(where: { $0.0 > installed && $0.1.matches(subject) }) else { return nil }
    return ReleaseRef(package: package, version: version.description)
  }

  /// Puts a device that has nothing to do into the policy deployment of the release its policies offer it.
  static func joinPolicyOffer(_ device: DeviceID, now: Date, db: any SQLConnection) throws -> [String] {
    guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM device WHERE id = ?", arguments: [device.rawValue])
    else { return [] }
    let record = Self.device(from: row)
    // A package the device follows through a channel gets what the channel's tag names, not policy offers.
    for package in record.installed.keys.sorted() where record.channels?[package] == nil {
      guard let offer = try Self.policyOffer(for: record, package: package, db: db),
        let id = try String.fetchOne(
          db,
          sql: """
            SELECT deployment.id FROM deployment JOIN release ON release.id = deployment.release_id
            WHERE deployment.target_policy = 1 AND deployment.status = ? AND release.package = ? AND release.version = ?
            """, arguments: [DeploymentStatus.active.rawValue, offer.package, offer.version]),
        try SQLRow.fetchOne(
          db, sql: "SELECT 1 FROM device_deployment WHERE deployment_id = ? AND device_id = ?",
          arguments: [id, device.rawValue]) == nil
      else { continue }
      let waits = try Self.waitsForWindow(device.rawValue, now: now, db: db)
      try db.execute(
        sql: """
          INSERT INTO device_deployment (deployment_id, device_id, state, updated_at, position, released_at)
          VALUES (?, ?, ?, ?, 0, ?)
          """, arguments: [id, device.rawValue, DeviceState.pending.rawValue, now, waits ? nil : now])
      if !waits { try Self.recordFromVersion(db, deployment: id, device: device.rawValue) }
      return [id]
    }
    return []
  }

  /// Sets (nil: removes) a release's distribution policy; returns the
  /// devices it offers the release to now (they are not busy elsewhere).
  public func setReleasePolicy(_ ref: ReleaseRef, policy: PolicyExpression?) async throws -> API.Release {
    try await db.write { db in
      guard let releaseID = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      try db.execute(sql: "UPDATE release SET policy = ? WHERE id = ?", arguments: [policy?.text, releaseID])
      // A policy offers it to devices: its assets are fixed from now on.
      if policy != nil { try Self.seal(releaseID: releaseID, now: Date(), db: db) }
      return try Self.release(id: releaseID, db: db)
    }
  }

  /// Devices not busy in any live deployment that run `package` and do not follow a channel of it
  /// (candidates for a policy offer).
  public func idleDevices(running package: String) async throws -> [DeviceID] {
    try await db.read { db in
      let devices = try SQLRow.fetchAll(db, sql: "SELECT * FROM device").map(Self.device(from:))
        .filter { $0.installed[package] != nil && $0.channels?[package] == nil }.map(\.id)
      let busy = try Self.busyDevices(devices, db: db)
      return devices.filter { busy[$0] == nil }.compactMap { try? DeviceID($0) }
    }
  }

  /// The live policy deployment of a release, if there is one.
  public func policyDeployment(_ ref: ReleaseRef) async throws -> String? {
    try await db.read { db in
      try String.fetchOne(
        db,
        sql: """
          SELECT deployment.id FROM deployment JOIN release ON release.id = deployment.release_id
          WHERE deployment.target_policy = 1 AND deployment.status IN (?, ?) AND release.package = ?
            AND release.version = ?
          """,
        arguments: [DeploymentStatus.active.rawValue, DeploymentStatus.paused.rawValue, ref.package, ref.version])
    }
  }
}
