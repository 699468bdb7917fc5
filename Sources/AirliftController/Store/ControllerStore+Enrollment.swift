import AirliftCore
import AirliftCrypto
import Foundation

/// Bootstrap tokens and device enrollments (CSR in, certificate out).
extension ControllerStore {
  public func createEnrollmentToken(_ request: API.CreateEnrollmentToken, by creator: String?, now: Date = Date())
    async throws -> API.EnrollmentToken
  {
    let id = Self.randomHex(8)
    let secret = "alb_\(id)_\(Self.randomHex(32))"
    let expires = now + TimeInterval(request.validFor)
    try await db.write { db in
      try db.execute(
        sql: """
          INSERT INTO enrollment_token (id, secret_sha256, device_id, uses_left, expires_at, created_at, created_by)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          id, SHA256Hasher.hex(of: Array(secret.utf8)), request.device, request.uses, expires, now, creator,
        ])
    }
    return API.EnrollmentToken(secret: secret, device: request.device, uses: request.uses, expiresAt: expires)
  }

  /// The id of the bootstrap token `secret` names, when it is one (used or not).
  public func enrollmentTokenID(_ secret: String) async throws -> String? {
    let parts = secret.split(separator: "_")
    guard parts.count == 3, parts[0] == "alb" else { return nil }
    return try await db.read { db in
      guard
        let stored = try String.fetchOne(
          db, sql: "SELECT secret_sha256 FROM enrollment_token WHERE id = ?", arguments: [String(parts[1])]),
        Self.constantTimeEqual(stored, SHA256Hasher.hex(of: Array(secret.utf8)))
      else { return nil }
      return String(parts[1])
    }
  }

  /// Stores a device's CSR under the token that brought it (one use of it). Returns the enrollment and whether
  /// the token pre-registered this device (then it is approved at once).
  public func submitEnrollment(_ request: API.EnrollmentRequest, token: String, now: Date = Date()) async throws
    -> (API.Enrollment, preRegistered: Bool)
  {
    try await db.write { db in
      guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM enrollment_token WHERE id = ?", arguments: [token])
      else { throw EnrollmentError.tokenUnusable("unknown") }
      let registered: String? = row["device_id"]
      if let registered, registered != request.device {
        throw EnrollmentError.tokenUnusable("it is for device \(registered), not \(request.device)")
      }
      if let existing = try SQLRow.fetchOne(
        db, sql: "SELECT * FROM enrollment WHERE device_id = ? AND token_id = ? AND csr = ?",
        arguments: [request.device, token, request.csr])
      {
        // The same request again (a retry): nothing new.
        return (Self.enrollment(existing), false)
      }
      guard (row["expires_at"] as Date) > now else { throw EnrollmentError.tokenUnusable("it expired") }
      guard (row["uses_left"] as Int) > 0 else { throw EnrollmentError.tokenUnusable("it has been used up") }
      try db.execute(sql: "UPDATE enrollment_token SET uses_left = uses_left - 1 WHERE id = ?", arguments: [token])
      try db.execute(
        sql: """
          INSERT INTO enrollment (device_id, csr, status, token_id, requested_at) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT (device_id) DO UPDATE SET csr = excluded.csr, status = excluded.status,
            token_id = excluded.token_id, requested_at = excluded.requested_at, certificate = NULL, serial = NULL,
            decided_at = NULL, decided_by = NULL
          """,
        arguments: [request.device, request.csr, API.Enrollment.Status.pending.rawValue, token, now])
      let stored = try SQLRow.fetchOne(
        db, sql: "SELECT * FROM enrollment WHERE device_id = ?", arguments: [request.device])!
      return (Self.enrollment(stored), registered != nil)
    }
  }

  /// Issues the pending request's certificate with `issue(csr)`, or rejects it.
  public func decideEnrollment(
    _ device: String, approve: Bool, by: String?, now: Date = Date(),
    issue: @escaping @Sendable (String) throws -> (certificate: String, serial: String)
  ) async throws -> API.Enrollment {
    try await db.write { db in
      guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM enrollment WHERE device_id = ?", arguments: [device])
      else { throw StoreError.deviceNotFound(device) }
      guard row["status"] == API.Enrollment.Status.pending.rawValue else {
        throw EnrollmentError.notPending(device, status: row["status"])
      }
      if approve {
        let (certificate, serial) = try issue(row["csr"])
        try db.execute(
          sql:
            "UPDATE enrollment SET status = ?, certificate = ?, serial = ?, decided_at = ?, decided_by = ? WHERE device_id = ?",
          arguments: [API.Enrollment.Status.issued.rawValue, certificate, serial, now, by, device])
        try db.execute(
          sql: "INSERT INTO device_certificate (serial, device_id, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
          arguments: [serial, device, now])
      } else {
        try db.execute(
          sql: "UPDATE enrollment SET status = ?, decided_at = ?, decided_by = ? WHERE device_id = ?",
          arguments: [API.Enrollment.Status.rejected.rawValue, now, by, device])
      }
      return Self.enrollment(
        try SQLRow.fetchOne(db, sql: "SELECT * FROM enrollment WHERE device_id = ?", arguments: [device])!)
    }
  }

  /// A device's enrollment, when `token` (if given) is the one it came with.
  public func enrollment(_ device: String, token: String? = nil) async throws -> API.Enrollment? {
    try await db.read { db in
      guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM enrollment WHERE device_id = ?", arguments: [device]),
        token == nil || row["token_id"] == token
      else { return nil }
      return Self.enrollment(row)
    }
  }

  public func enrollments() async throws -> [API.Enrollment] {
    try await db.read { db in
      try SQLRow.fetchAll(db, sql: "SELECT * FROM enrollment ORDER BY requested_at DESC").map { row in
        var enrollment = Self.enrollment(row)
        if enrollment.status == .pending { enrollment.knownDevice = try Self.knownDevice(enrollment.device, db: db) }
        return enrollment
      }
    }
  }

  /// What the controller knows of `device`: a device row, or certificates seen or issued that are not revoked.
  public func knownDevice(_ device: String) async throws -> API.Enrollment.KnownDevice? {
    try await db.read { db in try Self.knownDevice(device, db: db) }
  }

  static func knownDevice(_ device: String, db: any SQLConnection) throws -> API.Enrollment.KnownDevice? {
    let row = try SQLRow.fetchOne(db, sql: "SELECT online, last_seen FROM device WHERE id = ?", arguments: [device])
    let certificates =
      try Int.fetchOne(
        db,
        sql: """
          SELECT COUNT(*) FROM device_certificate WHERE device_id = ?
          AND serial NOT IN (SELECT serial FROM revocation)
          """, arguments: [device]) ?? 0
    guard row != nil || certificates > 0 else { return nil }
    return API.Enrollment.KnownDevice(
      online: (row?["online"] as Bool?) ?? false, lastSeen: row?["last_seen"], certificates: certificates)
  }

  static func enrollment(_ row: SQLRow) -> API.Enrollment {
    API.Enrollment(
      device: row["device_id"], status: API.Enrollment.Status(rawValue: row["status"]) ?? .pending,
      certificate: row["certificate"], serial: row["serial"], requestedAt: row["requested_at"],
      decidedBy: row["decided_by"])
  }
}

/// Why an enrollment step is refused.
public enum EnrollmentError: Error, Equatable, Sendable, CustomStringConvertible {
  case tokenUnusable(String)
  case notPending(String, status: String)

  public var description: String {
    switch self {
    case .tokenUnusable(let why): return "the enrollment token cannot be used: \(why)"
    case .notPending(let device, let status): return "the enrollment of \(device) is \(status), not pending"
    }
  }
}
