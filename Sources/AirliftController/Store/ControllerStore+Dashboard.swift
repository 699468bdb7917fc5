import AirliftCore
import AirliftCrypto
import Foundation

/// A dashboard session: the operator token it was opened with.
public struct DashboardSession: Sendable, Equatable {
  public var tokenName: String
  public var role: API.Role
  public var expiresAt: Date
}

/// How the fleet stands, for the dashboard's overview.
public struct FleetSummary: Sendable, Equatable {
  public var total = 0
  public var online = 0
  /// Devices in a live deployment that have started and not ended.
  public var updating = 0
  /// Devices whose latest deployment ended Failed or RolledBack.
  public var failed = 0
  /// Devices per `model` attribute ("unknown" when unset).
  public var models: [String: Int] = [:]
  /// Devices per installed version of each package.
  public var versions: [String: [String: Int]] = [:]
}

/// What the dashboard reads beyond the REST API's views: sessions, presence
/// history, the fleet summary and a device's status events.
extension ControllerStore {
  /// How long a dashboard session lasts without logging in again.
  public static let sessionLifetime: TimeInterval = 12 * 3600
  /// Presence changes kept per device (older ones are dropped).
  static let presenceKept = 50

  // MARK: Sessions

  /// Opens a session for a live operator token; returns the session secret
  /// (for the cookie) or nil when the token is unknown or revoked.
  public func openSession(token secret: String, now: Date = Date()) async throws -> (secret: String, DashboardSession)?
  {
    guard let (name, role, _) = try await authenticate(token: secret, now: now) else { return nil }
    let session = "als_" + Self.randomHex(32)
    let expires = now.addingTimeInterval(Self.sessionLifetime)
    try await db.write { db in
      try db.execute(sql: "DELETE FROM ui_session WHERE expires_at < ?", arguments: [now])
      try db.execute(
        sql: """
          INSERT INTO ui_session (secret_sha256, token_id, created_at, expires_at)
          SELECT ?, id, ?, ? FROM operator_token WHERE name = ? AND revoked_at IS NULL
          """, arguments: [SHA256Hasher.hex(of: Array(session.utf8)), now, expires, name])
    }
    return (session, DashboardSession(tokenName: name, role: role, expiresAt: expires))
  }

  /// The session a cookie names, while it has not expired and its token is not revoked.
  public func session(_ secret: String, now: Date = Date()) async throws -> DashboardSession? {
    guard secret.hasPrefix("als_"), secret.utf8.count < 100 else { return nil }
    return try await db.read { db in
      guard
        let row = try SQLRow.fetchOne(
          db,
          sql: """
            SELECT operator_token.name, operator_token.role, ui_session.expires_at FROM ui_session
            JOIN operator_token ON operator_token.id = ui_session.token_id
            WHERE ui_session.secret_sha256 = ? AND operator_token.revoked_at IS NULL AND ui_session.expires_at > ?
            """, arguments: [SHA256Hasher.hex(of: Array(secret.utf8)), now]),
        let role = API.Role(rawValue: row["role"])
      else { return nil }
      return DashboardSession(tokenName: row["name"], role: role, expiresAt: row["expires_at"])
    }
  }

  /// Ends a session (logout).
  public func closeSession(_ secret: String) async throws {
    try await db.write { db in
      try db.execute(
        sql: "DELETE FROM ui_session WHERE secret_sha256 = ?", arguments: [SHA256Hasher.hex(of: Array(secret.utf8))])
    }
  }

  // MARK: Presence history

  static func logPresence(_ db: any SQLConnection, device: String, online: Bool, now: Date) throws {
    try db.execute(
      sql: "INSERT INTO presence_event (device_id, online, at) VALUES (?, ?, ?)", arguments: [device, online, now])
    try db.execute(
      sql: """
        DELETE FROM presence_event WHERE device_id = ? AND id <= (
          SELECT id FROM presence_event WHERE device_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
        """, arguments: [device, device, Self.presenceKept])
  }

  /// A device's latest presence changes, newest first.
  public func presenceHistory(_ device: DeviceID) async throws -> [(online: Bool, at: Date)] {
    try await db.read { db in
      try SQLRow.fetchAll(
        db, sql: "SELECT online, at FROM presence_event WHERE device_id = ? ORDER BY id DESC",
        arguments: [device.rawValue]
      ).map { (online: $0["online"], at: $0["at"]) }
    }
  }

  // MARK: Fleet summary

  /// Counts of the whole fleet by presence, update state, model and installed version.
  public func fleetSummary() async throws -> FleetSummary {
    try await db.read { db in
      var summary = FleetSummary()
      for row in try SQLRow.fetchAll(db, sql: "SELECT online, attributes, installed FROM device") {
        summary.total += 1
        if row["online"] as Bool { summary.online += 1 }
        let model = JSONColumn.decode(row["attributes"])["model"] ?? "unknown"
        summary.models[model, default: 0] += 1
        for (package, version) in JSONColumn.decode(row["installed"]) {
          summary.versions[package, default: [:]][version, default: 0] += 1
        }
      }
      let terminal = DeviceState.allCases.filter(\.isTerminal).map(\.rawValue)
      let placeholders = terminal.map { _ in "?" }.joined(separator: ", ")
      summary.updating =
        try Int.fetchOne(
          db,
          sql: """
            SELECT COUNT(DISTINCT device_deployment.device_id) FROM device_deployment
            JOIN deployment ON deployment.id = device_deployment.deployment_id
            WHERE deployment.status IN ('Active', 'Paused') AND device_deployment.state NOT IN (\(placeholders))
              AND device_deployment.state != 'Pending'
            """, arguments: SQLArguments(terminal)) ?? 0
      // The latest deployment row of each device decides whether it counts as failed.
      summary.failed =
        try Int.fetchOne(
          db,
          sql: """
            SELECT COUNT(*) FROM device_deployment AS latest
            WHERE latest.state IN ('Failed', 'RolledBack') AND NOT EXISTS (
              SELECT 1 FROM device_deployment AS newer WHERE newer.device_id = latest.device_id
                AND newer.updated_at > latest.updated_at)
            """) ?? 0
      return summary
    }
  }

  /// Deployments per status (for metrics).
  public func deploymentCounts() async throws -> [DeploymentStatus: Int] {
    try await db.read { db in
      var counts: [DeploymentStatus: Int] = [:]
      for row in try SQLRow.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM deployment GROUP BY status") {
        if let status = DeploymentStatus(rawValue: row["status"]) { counts[status] = row["n"] }
      }
      return counts
    }
  }

  // MARK: A device's status events

  /// Every status event of a device, grouped by deployment, newest deployment first.
  public func statusEvents(device: DeviceID, deployments: [String]) async throws -> [String: [StatusReport]] {
    var events: [String: [StatusReport]] = [:]
    for deployment in deployments {
      events[deployment] = try await statusEvents(deployment: deployment, device: device)
    }
    return events
  }
}
