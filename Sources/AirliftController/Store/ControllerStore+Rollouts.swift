import AirliftCore
import Foundation

/// What a rollout step did, for the service to act on.
public struct RolloutOutcome: Sendable, Equatable {
  public var deployment: String
  /// Devices to notify now.
  public var started: [DeviceID] = []
  /// Devices that had not started, to withdraw their notice from (an abort).
  public var withdrawn: [DeviceID] = []
  public var advancedTo: Int?
  public var aborted: String?
}

extension ControllerStore {
  /// A device's place in every rollout's order: a hash of its id (FNV-1a),
  /// so the same devices come first in every deployment — the same
  /// canaries each release — and new devices fall in between.
  static func rolloutKey(_ device: String) -> (UInt64, String) {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in device.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return (hash, device)
  }

  /// Runs one decision for every active phased deployment and applies it.
  public func stepRollouts(now: Date = Date()) async throws -> [RolloutOutcome] {
    let ids = try await db.read { db in
      try String.fetchAll(
        db, sql: "SELECT id FROM deployment WHERE status = ? AND rollout IS NOT NULL",
        arguments: [DeploymentStatus.active.rawValue])
    }
    var outcomes: [RolloutOutcome] = []
    for id in ids {
      if let outcome = try await stepRollout(id, now: now) { outcomes.append(outcome) }
    }
    return outcomes
  }

  private func stepRollout(_ id: String, now: Date) async throws -> RolloutOutcome? {
    try await db.write { db in
      guard
        let row = try SQLRow.fetchOne(
          db, sql: "SELECT * FROM deployment WHERE id = ? AND status = ?",
          arguments: [id, DeploymentStatus.active.rawValue]),
        let text: String = row["rollout"],
        let plan = try? JSONDecoder().decode(RolloutPlan.self, from: Data(text.utf8))
      else { return nil }
      let devices = try SQLRow.fetchAll(
        db, sql: "SELECT device_id, position, state, released_at FROM device_deployment WHERE deployment_id = ?",
        arguments: [id])
      let byPosition = Dictionary(devices.map { ($0["position"] as Int, $0["device_id"] as String) }) { $1 }
      let snapshot = RolloutSnapshot(
        phase: row["phase"], phaseEndedAt: row["phase_ended_at"], promoted: row["promoted"],
        startedLastMinute: devices.filter {
          ($0["released_at"] as Date?).map { now.timeIntervalSince($0) < 60 } ?? false
        }
        .count,
        devices: devices.map {
          RolloutDevice(
            position: $0["position"], started: ($0["released_at"] as Date?) != nil,
            state: DeviceState(rawValue: $0["state"]) ?? .pending)
        })
      var outcome = RolloutOutcome(deployment: id)
      var note: String? = row["rollout_note"]
      for action in Rollout.decide(plan, snapshot, now: now.timeIntervalSince1970) {
        switch action {
        case .start(let positions):
          let closed = try Self.outsideWindow(now: now, db: db)
          for position in positions {
            // A device outside its group's maintenance window waits (and so does the phase).
            guard let device = byPosition[position], !closed.contains(device) else { continue }
            try db.execute(
              sql: "UPDATE device_deployment SET released_at = ? WHERE deployment_id = ? AND device_id = ?",
              arguments: [now, id, device])
            try Self.recordFromVersion(db, deployment: id, device: device)
            if let device = try? DeviceID(device) { outcome.started.append(device) }
          }
          note = nil
        case .phaseEnded:
          try db.execute(
            sql: "UPDATE deployment SET phase_ended_at = ? WHERE id = ?", arguments: [now.timeIntervalSince1970, id])
        case .advance(let phase, let reason):
          try db.execute(
            sql: """
              UPDATE deployment SET phase = ?, phase_ended_at = NULL, promoted = 0, updated_at = ? WHERE id = ?
              """, arguments: [phase, now, id])
          try Self.insertDeploymentNote(db, id, "phase \(phase + 1) started: \(reason)", now: now)
          outcome.advancedTo = phase
          note = nil
        case .hold(let reason):
          note = reason
        case .abort(let reason):
          let message = "stopped by its failure policy: \(reason)"
          try db.execute(
            sql: "UPDATE deployment SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
            arguments: [DeploymentStatus.aborted.rawValue, message, now, id])
          outcome.withdrawn = devices.filter { ($0["state"] as String) == DeviceState.pending.rawValue }
            .compactMap { try? DeviceID($0["device_id"] as String) }
          outcome.aborted = message
          note = message
        }
      }
      if note != row["rollout_note"] {
        try db.execute(sql: "UPDATE deployment SET rollout_note = ? WHERE id = ?", arguments: [note, id])
      }
      return outcome.started.isEmpty && outcome.advancedTo == nil && outcome.aborted == nil ? nil : outcome
    }
  }

  /// Lets a phased deployment go on to its next phase (past a threshold, a
  /// soak time, or a plan that waits for promotion).
  public func promote(_ id: String, now: Date = Date()) async throws -> API.Deployment {
    try await db.write { db in
      guard let deployment = try Self.deployment(id: id, db: db) else { throw StoreError.deploymentNotFound(id) }
      guard deployment.status == .active, deployment.rollout != nil else {
        throw StoreError.invalidTransition(deployment: id, from: deployment.status, action: "promote")
      }
      try db.execute(sql: "UPDATE deployment SET promoted = 1, updated_at = ? WHERE id = ?", arguments: [now, id])
      return try Self.deployment(id: id, db: db)!
    }
  }

  /// Notes the version of the deployment's package the device runs as it is started.
  static func recordFromVersion(_ db: any SQLConnection, deployment: String, device: String) throws {
    // Cached: a deployment to every device runs this once per device.
    try db.cachedStatement(
      sql: """
        UPDATE device_deployment SET from_version = (
          SELECT \(db.dialect.jsonText(of: "device.installed", key: "release.package")) FROM device, deployment, release
          WHERE device.id = ? AND deployment.id = ? AND release.id = deployment.release_id)
        WHERE deployment_id = ? AND device_id = ?
        """
    ).execute(arguments: [device, deployment, deployment, device])
  }

  /// Aborted deployments whose policy asks for a rollback, once no started
  /// device is still working: per earlier version, the devices that had
  /// updated. Devices whose earlier version is unknown are left out.
  public func settledRollbacks() async throws -> [(deployment: String, package: String, devices: [String: [String]])] {
    try await db.read { db in
      let rows = try SQLRow.fetchAll(
        db,
        sql: """
          SELECT deployment.id, deployment.rollout, release.package FROM deployment
          JOIN release ON release.id = deployment.release_id
          WHERE deployment.status = ? AND deployment.rollout IS NOT NULL AND deployment.rolled_back_by IS NULL
          """, arguments: [DeploymentStatus.aborted.rawValue])
      var result: [(deployment: String, package: String, devices: [String: [String]])] = []
      for row in rows {
        guard let text: String = row["rollout"],
          let plan = try? JSONDecoder().decode(RolloutPlan.self, from: Data(text.utf8)),
          plan.failure?.rollBackOnAbort == true
        else { continue }
        let id: String = row["id"]
        let devices = try SQLRow.fetchAll(
          db, sql: "SELECT device_id, state, from_version, released_at FROM device_deployment WHERE deployment_id = ?",
          arguments: [id])
        let working = devices.contains {
          ($0["released_at"] as Date?) != nil
            && ![DeviceState.pending, .successful, .failed, .rolledBack].contains(
              DeviceState(rawValue: $0["state"]) ?? .pending)
        }
        guard !working else { continue }
        var byVersion: [String: [String]] = [:]
        for device in devices where (device["state"] as String) == DeviceState.successful.rawValue {
          if let version: String = device["from_version"] {
            byVersion[version, default: []].append(device["device_id"])
          }
        }
        result.append((id, row["package"], byVersion))
      }
      return result
    }
  }

  /// Records the rollback deployments made for an aborted one (empty: none were possible).
  public func markRolledBack(_ id: String, by rollbacks: [String]) async throws {
    try await db.write { db in
      try db.execute(
        sql: "UPDATE deployment SET rolled_back_by = ? WHERE id = ?", arguments: [rollbacks.joined(separator: ","), id])
    }
  }

  /// Records a deployment-level event (phase changes) in the event log of no device.
  static func insertDeploymentNote(_ db: any SQLConnection, _ id: String, _ text: String, now: Date) throws {
    try db.execute(
      sql: """
        INSERT INTO status_event (deployment_id, device_id, state, stage, received_at)
        VALUES (?, '', 'Pending', ?, ?)
        """, arguments: [id, text, now])
  }
}
