import AirliftCore
import Foundation
import GRDB

/// A device's desired deployment with everything needed to notify it.
public struct DesiredDeployment: Sendable, Equatable {
  public var deploymentID: String
  public var release: API.Release
  public var parameters: [String: String]
}

extension ControllerStore {
  /// Creates an active deployment with every target `Pending`.
  public func createDeployment(
    id: String, name: String?, release: ReleaseRef, targets: [DeviceID], allDevices: Bool,
    parameters: [String: String], now: Date = Date()
  ) throws -> API.Deployment {
    try db.write { db in
      guard
        let releaseID = try Int64.fetchOne(
          db, sql: "SELECT id FROM release WHERE package = ? AND version = ?",
          arguments: [release.package, release.version])
      else { throw StoreError.releaseNotFound(release) }
      try db.execute(
        sql: """
          INSERT INTO deployment (id, name, release_id, status, parameters, all_devices, created_at)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          id, name, releaseID, DeploymentStatus.active.rawValue, JSONColumn.encode(parameters), allDevices, now,
        ])
      for device in targets {
        try db.execute(
          sql: "INSERT INTO device_deployment (deployment_id, device_id, state, updated_at) VALUES (?, ?, ?, ?)",
          arguments: [id, device.rawValue, DeviceState.pending.rawValue, now])
      }
      return try Self.deployment(id: id, db: db)!
    }
  }

  public func deployment(id: String) throws -> API.Deployment? {
    try db.read { db in try Self.deployment(id: id, db: db) }
  }

  /// Deployments, newest first.
  public func deployments() throws -> [API.Deployment] {
    try db.read { db in
      try String.fetchAll(db, sql: "SELECT id FROM deployment ORDER BY created_at DESC, rowid DESC")
        .compactMap { try Self.deployment(id: $0, db: db) }
    }
  }

  /// Adds a newly seen device to every active all-devices deployment it is
  /// not yet part of; returns the ids of those deployments.
  public func joinActiveDeployments(_ device: DeviceID, now: Date = Date()) throws -> [String] {
    try db.write { db in
      let ids = try String.fetchAll(
        db,
        sql: """
          SELECT id FROM deployment WHERE all_devices = 1 AND status = ?
          AND id NOT IN (SELECT deployment_id FROM device_deployment WHERE device_id = ?)
          ORDER BY created_at
          """, arguments: [DeploymentStatus.active.rawValue, device.rawValue])
      for id in ids {
        try db.execute(
          sql: "INSERT INTO device_deployment (deployment_id, device_id, state, updated_at) VALUES (?, ?, ?, ?)",
          arguments: [id, device.rawValue, DeviceState.pending.rawValue, now])
      }
      return ids
    }
  }

  /// The newest deployment that is not aborted and includes the device.
  public func desiredDeployment(for device: DeviceID) throws -> DesiredDeployment? {
    try db.read { db in
      guard
        let row = try Row.fetchOne(
          db,
          sql: """
            SELECT deployment.id AS deployment_id, deployment.parameters AS deployment_parameters,
              release.id, release.package, release.version, release.handler, release.created_at FROM deployment
            JOIN device_deployment ON device_deployment.deployment_id = deployment.id
            JOIN release ON release.id = deployment.release_id
            WHERE device_deployment.device_id = ? AND deployment.status != ?
            ORDER BY deployment.created_at DESC, deployment.rowid DESC LIMIT 1
            """, arguments: [device.rawValue, DeploymentStatus.aborted.rawValue])
      else { return nil }
      return DesiredDeployment(
        deploymentID: row["deployment_id"], release: try Self.release(from: row, db: db),
        parameters: JSONColumn.decode(row["deployment_parameters"]))
    }
  }

  /// Stores a status event and moves the device's state when the move is
  /// allowed (duplicates and late, out-of-order events never move a finished
  /// device back). Completes a deployment to listed devices when every one
  /// has finished; an all-devices deployment stays active for devices that
  /// join later, until it is stopped.
  /// Returns false when the deployment is unknown (the event is still kept).
  @discardableResult
  public func recordStatus(_ report: StatusReport, from device: DeviceID, now: Date = Date()) throws -> Bool {
    try db.write { db in
      try db.execute(
        sql: """
          INSERT INTO status_event (deployment_id, device_id, state, bytes, total, percent, attempt, error,
            device_time, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          report.deployment, device.rawValue, report.state.rawValue, report.bytes, report.total, report.percent,
          report.attempt, report.error, report.time, now,
        ])
      guard
        let current = try String.fetchOne(
          db, sql: "SELECT state FROM device_deployment WHERE deployment_id = ? AND device_id = ?",
          arguments: [report.deployment, device.rawValue]
        ).flatMap(DeviceState.init(rawValue:))
      else { return false }
      guard current.canMove(to: report.state) || !current.isTerminal && report.state.isTerminal else {
        return true
      }
      let percent = report.state == .successful ? 100 : report.percent
      try db.execute(
        sql: """
          UPDATE device_deployment SET state = ?, percent = COALESCE(?, percent), error = ?, updated_at = ?
          WHERE deployment_id = ? AND device_id = ?
          """,
        arguments: [report.state.rawValue, percent, report.error, now, report.deployment, device.rawValue])
      let unfinished = try String.fetchAll(
        db, sql: "SELECT state FROM device_deployment WHERE deployment_id = ?", arguments: [report.deployment]
      ).compactMap(DeviceState.init(rawValue:)).filter { !$0.isTerminal }.count
      if unfinished == 0 {
        try db.execute(
          sql: "UPDATE deployment SET status = ? WHERE id = ? AND status = ? AND all_devices = 0",
          arguments: [DeploymentStatus.completed.rawValue, report.deployment, DeploymentStatus.active.rawValue])
      }
      return true
    }
  }

  /// Every status event of one device in one deployment, oldest first.
  public func statusEvents(deployment: String, device: DeviceID) throws -> [StatusReport] {
    try db.read { db in
      try Row.fetchAll(
        db,
        sql: "SELECT * FROM status_event WHERE deployment_id = ? AND device_id = ? ORDER BY id",
        arguments: [deployment, device.rawValue]
      ).compactMap { row in
        guard let state = DeviceState(rawValue: row["state"]) else { return nil }
        return StatusReport(
          deployment: row["deployment_id"], state: state, bytes: row["bytes"], total: row["total"],
          percent: row["percent"], attempt: row["attempt"], error: row["error"],
          time: row["device_time"] ?? row["received_at"])
      }
    }
  }

  static func deployment(id: String, db: Database) throws -> API.Deployment? {
    guard
      let row = try Row.fetchOne(
        db,
        sql: """
          SELECT deployment.*, release.package, release.version FROM deployment
          JOIN release ON release.id = deployment.release_id WHERE deployment.id = ?
          """, arguments: [id])
    else { return nil }
    let devices = try Row.fetchAll(
      db, sql: "SELECT * FROM device_deployment WHERE deployment_id = ? ORDER BY device_id", arguments: [id]
    ).map { row in
      API.DeviceProgress(
        device: row["device_id"], state: DeviceState(rawValue: row["state"]) ?? .pending, percent: row["percent"],
        error: row["error"], updatedAt: row["updated_at"])
    }
    return API.Deployment(
      id: row["id"], name: row["name"], release: ReleaseRef(package: row["package"], version: row["version"]),
      status: DeploymentStatus(rawValue: row["status"]) ?? .active, parameters: JSONColumn.decode(row["parameters"]),
      allDevices: row["all_devices"], createdAt: row["created_at"], devices: devices)
  }
}
