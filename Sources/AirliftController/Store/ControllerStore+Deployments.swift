import AirliftCore
import Foundation

/// A device's desired deployment with everything needed to notify it.
public struct DesiredDeployment: Sendable, Equatable {
  public var deploymentID: String
  public var release: API.Release
  public var parameters: [String: String]
  public var timeouts: UpdateTimeouts
  public var round: Int
  /// The release's signed manifest, as its signer uploaded it.
  public var manifest: SignedManifest?
  public var downgrade: Bool
  public var steps: [FlowStep]?
}

/// Everything a new deployment is made of, resolved by the caller.
public struct NewDeployment: Sendable {
  public var id: String
  public var name: String?
  public var release: ReleaseRef
  public var tag: String?
  public var target: API.Target
  public var parameters: [String: String]
  public var maxDevices: Int?
  public var deviceTimeout: Int?
  public var startAt: Date?
  public var supersede: Bool
  public var rollout: RolloutPlan?
  public var needsApproval = false
  /// The operator who asked for it (a second one must approve it).
  public var createdBy: String?
  public var downloadTimeout: Int?
  public var installTimeout: Int?
  public var linkedTo: String?
  public var canariesFrom: String?
  public var retries = 0
  /// Install over a newer version (the manifest must allow it too).
  public var downgrade = false
  /// The flow version that launched it.
  public var flow: API.FlowRef?
  /// A multi-step update's steps, resolved.
  public var steps: [FlowStep]?
}

/// Deployments that can still move devices.
private let liveStatuses = [DeploymentStatus.scheduled, .active, .paused].map(\.rawValue)

extension ControllerStore {
  /// Creates a deployment with every target `Pending`, in one transaction.
  /// Devices still in another live deployment are refused, or with
  /// `supersede` moved over when they had not started there.
  public func createDeployment(_ spec: NewDeployment, now: Date = Date()) async throws -> API.Deployment {
    try await db.write { db in
      guard let releaseID = try Self.releaseID(spec.release, db: db) else {
        throw StoreError.releaseNotFound(spec.release)
      }
      var targets = try Self.targetDevices(spec.target, db: db)
      if let max = spec.maxDevices { targets = Array(targets.prefix(max)) }
      guard !targets.isEmpty || spec.target.isOpen else { throw StoreError.noTargetDevices }
      let releaseFor =
        try String.fetchOne(db, sql: "SELECT compatible FROM release WHERE id = ?", arguments: [releaseID])
        .flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
      if !releaseFor.isEmpty {
        let wrong = try Self.otherHardware(targets, than: releaseFor, db: db)
        guard wrong.isEmpty else {
          throw StoreError.incompatibleDevices(spec.release, releaseFor: releaseFor, devices: wrong)
        }
      }
      // Devices named one by one must all be allowed the release's repository; of a group, all devices, a
      // channel's followers or a policy's, those that are not are left out.
      let outside = try Self.devicesWithoutAccess(targets, to: Names.repository(of: spec.release.package), db: db)
      if !outside.isEmpty {
        guard spec.target.devices == nil else {
          throw RepositoryError.devicesWithoutAccess(spec.release, devices: outside)
        }
        targets.removeAll(where: Set(outside).contains)
        guard !targets.isEmpty || spec.target.isOpen else { throw StoreError.noTargetDevices }
      }

      let busy = try Self.busyDevices(targets, db: db)
      if !busy.isEmpty {
        guard spec.supersede else { throw StoreError.devicesBusy(busy.mapValues(\.deployment)) }
        for (device, entry) in busy where entry.state == .pending {
          try db.execute(
            sql: "DELETE FROM device_deployment WHERE deployment_id = ? AND device_id = ?",
            arguments: [entry.deployment, device])
          try Self.insertEvent(
            db, deployment: entry.deployment, device: device, state: .pending,
            error: "superseded by \(spec.id) before it started", now: now)
          try Self.completeIfFinished(entry.deployment, db: db)
        }
      }
      let scheduled = spec.startAt.map { $0 > now } ?? false || spec.needsApproval
      let frozen = try Self.fleetState(db)
      let status: DeploymentStatus = scheduled ? .scheduled : (frozen.frozen ? .paused : .active)
      try db.execute(
        sql: """
          INSERT INTO deployment (id, name, release_id, status, parameters, all_devices, created_at, tag, target_group,
            max_devices, device_timeout, start_at, updated_at, rollout, paused_by_freeze, reason, created_by,
            needs_approval, download_timeout, install_timeout, linked_to, target_channel, target_policy, retries,
            downgrade, flow_name, flow_version, steps)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          spec.id, spec.name, releaseID, status.rawValue,
          JSONColumn.encode(spec.parameters), spec.target.allDevices, now, spec.tag, spec.target.group,
          spec.maxDevices, spec.deviceTimeout, spec.startAt, now,
          spec.rollout.map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data(), as: UTF8.self) },
          status == .paused, status == .paused ? "fleet frozen: \(frozen.reason ?? "")" : nil, spec.createdBy,
          spec.needsApproval, spec.downloadTimeout, spec.installTimeout, spec.linkedTo, spec.target.channel,
          spec.target.releasePolicy, spec.retries, spec.downgrade, spec.flow?.name, spec.flow?.version,
          spec.steps.map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data(), as: UTF8.self) },
        ])
      try Self.seal(releaseID: releaseID, now: now, db: db)
      // A rollout starts devices in a stable order (the same canaries every time); without one, all at once.
      var ordered = spec.rollout == nil ? targets : targets.sorted { Self.rolloutKey($0) < Self.rolloutKey($1) }
      if let earlier = spec.canariesFrom {
        let canaries = try Self.canaries(of: earlier, db: db)
        ordered = ordered.filter(canaries.contains) + ordered.filter { !canaries.contains($0) }
      }
      let closed = try Self.outsideWindow(now: now, db: db)
      let insert = db.cachedStatement(
        sql: """
          INSERT INTO device_deployment (deployment_id, device_id, state, updated_at, position, released_at)
          VALUES (?, ?, ?, ?, ?, ?)
          """)
      for (position, device) in ordered.enumerated() {
        let startNow = spec.rollout == nil && !closed.contains(device)
        try insert.execute(
          arguments: [spec.id, device, DeviceState.pending.rawValue, now, position, startNow ? now : nil])
        if startNow { try Self.recordFromVersion(db, deployment: spec.id, device: device) }
      }
      return try Self.deployment(id: spec.id, db: db)!
    }
  }

  public func deployment(id: String) async throws -> API.Deployment? {
    try await db.read { db in try Self.deployment(id: id, db: db) }
  }

  /// Deployments, newest first.
  public func deployments() async throws -> [API.Deployment] {
    try await db.read { db in
      try String.fetchAll(db, sql: "SELECT id FROM deployment ORDER BY created_at DESC, rowid DESC")
        .compactMap { try Self.deployment(id: $0, db: db) }
    }
  }

  /// Pauses, resumes or aborts; returns the deployment and the devices that
  /// had not started (to withdraw their notice, or to notify again).
  public func changeStatus(
    _ id: String, to status: DeploymentStatus, reason: String? = nil, now: Date = Date()
  ) async throws -> (API.Deployment, pending: [DeviceID]) {
    try await db.write { db in
      guard let deployment = try Self.deployment(id: id, db: db) else { throw StoreError.deploymentNotFound(id) }
      let allowed: [DeploymentStatus]
      let action: String
      switch status {
      case .paused: (allowed, action) = ([.active], "pause")
      case .active: (allowed, action) = ([.paused], "resume")
      case .aborted: (allowed, action) = ([.active, .paused, .scheduled], "abort")
      case .scheduled, .completed: (allowed, action) = ([], "set the status of")
      }
      guard allowed.contains(deployment.status) else {
        throw StoreError.invalidTransition(deployment: id, from: deployment.status, action: action)
      }
      if status == .active, try Self.fleetState(db).frozen {
        throw StoreError.fleetFrozen
      }
      try db.execute(
        sql: "UPDATE deployment SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
        arguments: [status.rawValue, reason, now, id])
      let pending = deployment.devices.filter { $0.state == .pending && $0.started }.compactMap {
        try? DeviceID($0.device)
      }
      return (try Self.deployment(id: id, db: db)!, pending)
    }
  }

  /// Starts the devices of plain (unphased) active deployments that waited
  /// for their group's maintenance window, now that it is open; returns them.
  public func startWaitingDevices(now: Date = Date()) async throws -> [DeviceID] {
    try await db.write { db in
      let closed = try Self.outsideWindow(now: now, db: db)
      let rows = try SQLRow.fetchAll(
        db,
        sql: """
          SELECT device_deployment.deployment_id, device_deployment.device_id FROM device_deployment
          JOIN deployment ON deployment.id = device_deployment.deployment_id
          WHERE deployment.status = ? AND deployment.rollout IS NULL AND device_deployment.released_at IS NULL
          """, arguments: [DeploymentStatus.active.rawValue])
      var started: [DeviceID] = []
      for row in rows {
        let device: String = row["device_id"]
        guard !closed.contains(device) else { continue }
        let deployment: String = row["deployment_id"]
        try db.execute(
          sql: "UPDATE device_deployment SET released_at = ? WHERE deployment_id = ? AND device_id = ?",
          arguments: [now, deployment, device])
        try Self.recordFromVersion(db, deployment: deployment, device: device)
        if let id = try? DeviceID(device) { started.append(id) }
      }
      return started
    }
  }

  /// Gives failed devices of active deployments with retries left the whole
  /// update again (the next round); returns them, to notify.
  public func retryFailedDevices(now: Date = Date()) async throws -> [DeviceID] {
    try await db.write { db in
      let rows = try SQLRow.fetchAll(
        db,
        sql: """
          SELECT device_deployment.deployment_id, device_deployment.device_id, device_deployment.round,
            device_deployment.error, deployment.retries FROM device_deployment
          JOIN deployment ON deployment.id = device_deployment.deployment_id
          WHERE deployment.status = ? AND device_deployment.state IN (?, ?)
            AND device_deployment.round <= deployment.retries
          """,
        arguments: [DeploymentStatus.active.rawValue, DeviceState.failed.rawValue, DeviceState.rolledBack.rawValue])
      var again: [DeviceID] = []
      for row in rows {
        let deployment: String = row["deployment_id"]
        let device: String = row["device_id"]
        let round = (row["round"] as Int) + 1
        let note = "try \(round) of \((row["retries"] as Int) + 1) after: \((row["error"] as String?) ?? "a failure")"
        try db.execute(
          sql: """
            UPDATE device_deployment SET round = ?, state = ?, percent = NULL, started_at = NULL, released_at = ?,
              delivered_at = NULL, updated_at = ?, bytes_total = NULL, bytes_fetched = NULL, bytes_reused = NULL,
              delivery_attempts = 0, next_delivery_at = NULL
            WHERE deployment_id = ? AND device_id = ?
            """, arguments: [round, DeviceState.pending.rawValue, now, now, deployment, device])
        try Self.insertEvent(db, deployment: deployment, device: device, state: .pending, error: note, now: now)
        if let id = try? DeviceID(device) { again.append(id) }
      }
      return again
    }
  }

  /// The devices of an earlier phased deployment's first phase, in their order.
  static func canaries(of id: String, db: any SQLConnection) throws -> [String] {
    guard let deployment = try Self.deployment(id: id, db: db) else { throw StoreError.deploymentNotFound(id) }
    guard let first = deployment.rollout?.plan.phases.first else { return [] }
    let count = first.devices(of: deployment.devices.count)
    return try String.fetchAll(
      db, sql: "SELECT device_id FROM device_deployment WHERE deployment_id = ? ORDER BY position LIMIT ?",
      arguments: [id, count])
  }

  /// A second operator approves a deployment created with `needsApproval`.
  public func approve(_ id: String, by approver: String, now: Date = Date()) async throws -> API.Deployment {
    try await db.write { db in
      guard let deployment = try Self.deployment(id: id, db: db) else { throw StoreError.deploymentNotFound(id) }
      guard deployment.needsApproval, deployment.approvedBy == nil, deployment.status == .scheduled else {
        throw StoreError.approvalRefused(
          "deployment \(id) does not wait for approval (it is \(deployment.status.rawValue))")
      }
      guard approver != deployment.createdBy else {
        throw StoreError.approvalRefused(
          "\(approver) created deployment \(id); a second operator must approve it")
      }
      try db.execute(
        sql: "UPDATE deployment SET approved_by = ?, updated_at = ? WHERE id = ?", arguments: [approver, now, id])
      return try Self.deployment(id: id, db: db)!
    }
  }

  /// Starts scheduled deployments whose time has come; returns their ids.
  public func activateDue(now: Date = Date()) async throws -> [String] {
    try await db.write { db in
      guard try !Self.fleetState(db).frozen else { return [] }
      let due = try String.fetchAll(
        db,
        sql: """
          SELECT id FROM deployment WHERE status = ? AND (start_at IS NULL OR start_at <= ?)
            AND (needs_approval = 0 OR approved_by IS NOT NULL)
          """,
        arguments: [DeploymentStatus.scheduled.rawValue, now])
      for id in due {
        try db.execute(
          sql: "UPDATE deployment SET status = ?, updated_at = ? WHERE id = ?",
          arguments: [DeploymentStatus.active.rawValue, now, id])
      }
      return due
    }
  }

  /// Fails devices that started but did not finish within their
  /// deployment's device timeout; returns how many.
  @discardableResult
  public func failTimedOutDevices(now: Date = Date()) async throws -> Int {
    try await db.write { db in
      let rows = try SQLRow.fetchAll(
        db,
        sql: """
          SELECT * FROM (
            SELECT device_deployment.deployment_id, device_deployment.device_id, device_deployment.state,
              -- A polling device's clock starts at the check-in that handed it the deployment.
              CASE WHEN device.transport = ? THEN COALESCE(device_deployment.started_at, device_deployment.delivered_at)
                ELSE COALESCE(device_deployment.started_at, device_deployment.released_at) END AS started_at,
              device_deployment.started_at IS NULL AS unreachable, deployment.device_timeout FROM device_deployment
            JOIN deployment ON deployment.id = device_deployment.deployment_id
            LEFT JOIN device ON device.id = device_deployment.device_id
            WHERE deployment.device_timeout IS NOT NULL AND deployment.status IN (?, ?)
              AND device_deployment.state NOT IN (?, ?, ?)
          ) AS open_entry WHERE started_at IS NOT NULL
          """,
        arguments: [
          DeviceTransport.https.rawValue, DeploymentStatus.active.rawValue, DeploymentStatus.paused.rawValue,
          DeviceState.successful.rawValue, DeviceState.failed.rawValue, DeviceState.rolledBack.rawValue,
        ])
      var failed = 0
      for row in rows {
        let started: Date = row["started_at"]
        let timeout: Int = row["device_timeout"]
        guard now.timeIntervalSince(started) > Double(timeout) else { continue }
        let deployment: String = row["deployment_id"]
        let device: String = row["device_id"]
        let state: String = row["state"]
        let unreachable: Bool = row["unreachable"]
        let error =
          unreachable
          ? "timed out: the device did not start within \(timeout) s (unreachable?)"
          : "timed out: not finished \(timeout) s after it started (last state \(state))"
        try db.execute(
          sql: """
            UPDATE device_deployment SET state = ?, error = ?, updated_at = ? WHERE deployment_id = ? AND device_id = ?
            """, arguments: [DeviceState.failed.rawValue, error, now, deployment, device])
        try Self.insertEvent(db, deployment: deployment, device: device, state: .failed, error: error, now: now)
        try Self.completeIfFinished(deployment, db: db)
        failed += 1
      }
      return failed
    }
  }

  // MARK: Helpers

  /// The ids a target names now, sorted (a stable order for limits).
  static func targetDevices(_ target: API.Target, db: any SQLConnection) throws -> [String] {
    var ids = Set(target.devices ?? [])
    if let name = target.group { ids.formUnion(try Self.group(name, db: db).devices) }
    if target.allDevices { ids.formUnion(try String.fetchAll(db, sql: "SELECT id FROM device")) }
    if let channel = target.channel { ids.formUnion(try Self.followers(channel, db: db)) }
    return ids.sorted()
  }

  /// Devices with an unfinished entry in a live deployment: id → (deployment, state).
  /// The devices of `devices` that said they are hardware other than `names` (device to what it said); those
  /// that said nothing are left to refuse the release themselves.
  static func otherHardware(_ devices: [String], than names: [String], db: any SQLConnection) throws -> [String: String]
  {
    var other: [String: String] = [:]
    let statement = db.cachedStatement(sql: "SELECT compatible FROM device WHERE id = ? AND compatible IS NOT NULL")
    for device in devices {
      if let said = try String.fetchOne(statement, arguments: [device]), !names.contains(said) { other[device] = said }
    }
    return other
  }

  static func busyDevices(_ devices: [String], db: any SQLConnection) throws -> [String: (
    deployment: String, state: DeviceState
  )] {
    var busy: [String: (deployment: String, state: DeviceState)] = [:]
    let statement = db.cachedStatement(
      sql: """
        SELECT device_deployment.deployment_id, device_deployment.state FROM device_deployment
        JOIN deployment ON deployment.id = device_deployment.deployment_id
        WHERE device_deployment.device_id = ? AND deployment.status IN (?, ?, ?)
          AND device_deployment.state NOT IN (?, ?, ?) LIMIT 1
        """)
    for device in devices {
      let row = try SQLRow.fetchOne(
        statement,
        arguments: SQLArguments(
          [device] + liveStatuses + [
            DeviceState.successful.rawValue, DeviceState.failed.rawValue, DeviceState.rolledBack.rawValue,
          ]))
      if let row, let state = DeviceState(rawValue: row["state"]) {
        busy[device] = (row["deployment_id"], state)
      }
    }
    return busy
  }

  /// Completes an active or paused deployment whose devices all finished:
  /// a fixed target always; an open target only once its limit is reached.
  static func completeIfFinished(_ id: String, db: any SQLConnection) throws {
    guard
      let row = try SQLRow.fetchOne(
        db, sql: "SELECT status, all_devices, target_group, max_devices, rollout FROM deployment WHERE id = ?",
        arguments: [id])
    else { return }
    let status: String = row["status"]
    guard status == DeploymentStatus.active.rawValue || status == DeploymentStatus.paused.rawValue else { return }
    let retries = try Int.fetchOne(db, sql: "SELECT retries FROM deployment WHERE id = ?", arguments: [id]) ?? 0
    let entries = try SQLRow.fetchAll(
      db, sql: "SELECT state, round FROM device_deployment WHERE deployment_id = ?", arguments: [id])
    let states = entries.compactMap { DeviceState(rawValue: $0["state"]) }
    // A failed device with tries left will go again.
    let retrying = entries.contains {
      ($0["state"] as String) != DeviceState.successful.rawValue && ($0["round"] as Int) <= retries
        && (DeviceState(rawValue: $0["state"]) ?? .pending).isTerminal
    }
    guard !states.isEmpty, states.allSatisfy(\.isTerminal), !retrying else { return }
    let open = (row["all_devices"] as Bool) || (row["target_group"] as String?) != nil
    if open {
      guard let max: Int = row["max_devices"], states.count >= max else { return }
    }
    // Finished with more failures than its policy allows: that is an abort (and may call for a rollback).
    if let text: String = row["rollout"], let plan = try? JSONDecoder().decode(RolloutPlan.self, from: Data(text.utf8)),
      let reason = Rollout.policyViolation(plan, states: states)
    {
      try db.execute(
        sql: "UPDATE deployment SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
        arguments: [DeploymentStatus.aborted.rawValue, "stopped by its failure policy: \(reason)", Date(), id])
      return
    }
    try db.execute(
      sql: "UPDATE deployment SET status = ?, updated_at = ? WHERE id = ?",
      arguments: [DeploymentStatus.completed.rawValue, Date(), id])
  }

  static func deployment(id: String, db: any SQLConnection) throws -> API.Deployment? {
    guard
      let row = try SQLRow.fetchOne(
        db,
        sql: """
          SELECT deployment.*, release.package, release.version FROM deployment
          JOIN release ON release.id = deployment.release_id WHERE deployment.id = ?
          """, arguments: [id])
    else { return nil }
    let devices = try SQLRow.fetchAll(
      db, sql: "SELECT * FROM device_deployment WHERE deployment_id = ? ORDER BY device_id", arguments: [id]
    ).map { row in
      API.DeviceProgress(
        device: row["device_id"], state: DeviceState(rawValue: row["state"]) ?? .pending, percent: row["percent"],
        error: row["error"], attempts: row["attempts"], updatedAt: row["updated_at"],
        started: (row["released_at"] as Date?) != nil, fromVersion: row["from_version"], round: row["round"],
        transfer: TransferBytes(row),
        nextAttempt: (row["state"] as String) == DeviceState.retrying.rawValue && (row["started_at"] as Date?) == nil
          ? row["next_delivery_at"] : nil)
    }
    let plan = (row["rollout"] as String?).flatMap {
      try? JSONDecoder().decode(RolloutPlan.self, from: Data($0.utf8))
    }
    var deployment = API.Deployment(
      id: row["id"], name: row["name"], release: ReleaseRef(package: row["package"], version: row["version"]),
      tag: row["tag"], status: DeploymentStatus(rawValue: row["status"]) ?? .active,
      target: API.Target(
        devices: nil, group: row["target_group"], allDevices: row["all_devices"], channel: row["target_channel"],
        releasePolicy: row["target_policy"]),
      parameters: JSONColumn.decode(row["parameters"]), maxDevices: row["max_devices"],
      deviceTimeout: row["device_timeout"], startAt: row["start_at"], reason: row["reason"],
      createdAt: row["created_at"], devices: devices,
      rollout: plan.map { API.RolloutState(plan: $0, phase: (row["phase"] as Int) + 1, note: row["rollout_note"]) })
    deployment.createdBy = row["created_by"]
    deployment.needsApproval = row["needs_approval"]
    deployment.approvedBy = row["approved_by"]
    deployment.linkedTo = row["linked_to"]
    deployment.retries = row["retries"]
    deployment.downgrade = row["downgrade"]
    deployment.rolledBackBy = (row["rolled_back_by"] as String?)?.split(separator: ",").map(String.init) ?? []
    deployment.downloadTimeout = row["download_timeout"]
    deployment.installTimeout = row["install_timeout"]
    deployment.steps = Self.steps(row["steps"])
    deployment.eventsPrunedAt = row["events_pruned_at"]
    if let name: String = row["flow_name"], let version: Int = row["flow_version"] {
      deployment.flow = API.FlowRef(name: name, version: version)
    }
    return deployment
  }
}

extension ControllerStore {
  /// A deployment's stored steps (JSON), nil for a one-handler deployment.
  static func steps(_ text: String?) -> [FlowStep]? {
    text.flatMap { try? JSONDecoder().decode([FlowStep].self, from: Data($0.utf8)) }
  }
}
