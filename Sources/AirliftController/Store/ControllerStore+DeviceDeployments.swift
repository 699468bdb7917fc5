import AirliftCore
import Foundation

/// Which deployment a device belongs to: joining open targets as it appears, and the one it should act on.
extension ControllerStore {
  /// Adds a device to the newest active deployment whose open target (all
  /// devices, a group it is in, a channel it follows) it joined after the
  /// deployment started — or else to the release its distribution policies
  /// offer it — unless the device is busy elsewhere or the deployment's
  /// limit is reached; returns the id of that deployment.
  public func joinOpenDeployments(_ device: DeviceID, now: Date = Date()) async throws -> [String] {
    try await db.write { db in
      guard try Self.busyDevices([device.rawValue], db: db).isEmpty else { return [] }
      let candidates = try SQLRow.fetchAll(
        db,
        sql: """
          SELECT id, max_devices, rollout, (SELECT package FROM release WHERE release.id = deployment.release_id) AS package
          FROM deployment WHERE status = ?
          AND (all_devices = 1 OR target_group IN (SELECT group_name FROM group_member WHERE device_id = ?)
            OR target_channel IN (SELECT j.key || ':' || j.value FROM device,
              \(db.dialect.jsonEntries(of: "device.follows", as: "j")) WHERE device.id = ?))
          AND id NOT IN (SELECT deployment_id FROM device_deployment WHERE device_id = ?)
          ORDER BY created_at DESC, rowid DESC
          """, arguments: [DeploymentStatus.active.rawValue, device.rawValue, device.rawValue, device.rawValue])
      let allowed =
        try String.fetchOne(db, sql: "SELECT repositories FROM device WHERE id = ?", arguments: [device.rawValue])
        .flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
      for row in candidates {
        let id: String = row["id"]
        if let allowed, !allowed.contains(Names.repository(of: row["package"])) { continue }
        if let max: Int = row["max_devices"] {
          let count =
            try Int.fetchOne(
              db, sql: "SELECT COUNT(*) FROM device_deployment WHERE deployment_id = ?", arguments: [id]) ?? 0
          if count >= max { continue }
        }
        let waits = try Self.waitsForWindow(device.rawValue, now: now, db: db)
        let phased = (row["rollout"] as String?) != nil || waits
        let position =
          try Int.fetchOne(
            db, sql: "SELECT COALESCE(MAX(position), -1) + 1 FROM device_deployment WHERE deployment_id = ?",
            arguments: [id]) ?? 0
        // A rollout starts a late device when its turn comes; otherwise it starts now.
        try db.execute(
          sql: """
            INSERT INTO device_deployment (deployment_id, device_id, state, updated_at, position, released_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
          arguments: [id, device.rawValue, DeviceState.pending.rawValue, now, position, phased ? nil : now])
        if !phased { try Self.recordFromVersion(db, deployment: id, device: device.rawValue) }
        // One live deployment per device: the newest open one wins.
        return [id]
      }
      return try Self.joinPolicyOffer(device, now: now, db: db)
    }
  }

  /// The deployment the device should act on: the newest one it belongs to
  /// that is active, or that it already started (so it can finish).
  public func desiredDeployment(for device: DeviceID) async throws -> DesiredDeployment? {
    try await desiredDeployments(for: [device])[device]
  }

  /// `desiredDeployment(for:)` of many devices in one read, each release
  /// read once: a deployment to ten thousand devices notifies them all.
  public func desiredDeployments(for devices: [DeviceID]) async throws -> [DeviceID: DesiredDeployment] {
    try await db.read { db in
      var releases: [Int64: (API.Release, SignedManifest?)] = [:]
      var desired: [DeviceID: DesiredDeployment] = [:]
      let statement = db.cachedStatement(
        sql: """
          SELECT deployment.id, deployment.parameters, deployment.release_id, deployment.download_timeout,
            deployment.install_timeout, deployment.downgrade, deployment.steps, device_deployment.round
          FROM deployment JOIN device_deployment ON device_deployment.deployment_id = deployment.id
          WHERE device_deployment.device_id = ? AND device_deployment.released_at IS NOT NULL
            AND (deployment.status IN (?, ?) OR device_deployment.state != ?)
          ORDER BY deployment.created_at DESC, deployment.rowid DESC LIMIT 1
          """)
      let defaults = UpdateTimeouts()
      for device in devices {
        guard
          let row = try SQLRow.fetchOne(
            statement,
            arguments: [
              device.rawValue, DeploymentStatus.active.rawValue, DeploymentStatus.completed.rawValue,
              DeviceState.pending.rawValue,
            ])
        else { continue }
        let releaseID: Int64 = row["release_id"]
        if releases[releaseID] == nil {
          let manifest = try String.fetchOne(
            db, sql: "SELECT signed_manifest FROM release WHERE id = ?", arguments: [releaseID])
          releases[releaseID] = (try Self.release(id: releaseID, db: db), Self.signedManifest(manifest))
        }
        guard let (release, manifest) = releases[releaseID] else { continue }
        desired[device] = DesiredDeployment(
          deploymentID: row["id"], release: release, parameters: JSONColumn.decode(row["parameters"]),
          timeouts: UpdateTimeouts(
            download: row["download_timeout"] ?? defaults.download,
            install: row["install_timeout"] ?? defaults.install),
          round: row["round"], manifest: manifest, downgrade: row["downgrade"], steps: Self.steps(row["steps"]))
      }
      return desired
    }
  }
}
