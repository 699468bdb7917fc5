import AirliftCore
import Foundation

/// Device certificates the controller has seen, and those revoked.
extension ControllerStore {
  /// Remembers that `device` presented (or was issued) the certificate with `serial`, valid until `notAfter`
  /// (so revoking the device covers it, and its expiry is shown).
  public func recordCertificate(_ device: DeviceID, serial: String, notAfter: Date? = nil, now: Date = Date())
    async throws
  {
    try await db.write { db in
      try db.execute(
        sql: """
          INSERT INTO device_certificate (serial, device_id, first_seen, not_after) VALUES (?, ?, ?, ?)
          ON CONFLICT (serial) DO UPDATE SET not_after = COALESCE(device_certificate.not_after, excluded.not_after)
          """,
        arguments: [serial, device.rawValue, now, notAfter])
    }
  }

  /// Devices whose newest certificate (not revoked) expires within `days` or has expired.
  public func certificatesExpiring(within days: Double = 30, now: Date = Date()) async throws -> Int {
    let soon = now.addingTimeInterval(days * 86_400)
    return try await certificateExpiries().values.filter { $0 < soon }.count
  }

  /// Each device's latest certificate expiry among its certificates not revoked.
  public func certificateExpiries() async throws -> [String: Date] {
    try await db.read { db in
      var expiries: [String: Date] = [:]
      for row in try SQLRow.fetchAll(
        db,
        sql: """
          SELECT device_id, MAX(not_after) AS expires FROM device_certificate
          WHERE not_after IS NOT NULL AND serial NOT IN (SELECT serial FROM revocation) GROUP BY device_id
          """)
      {
        if let expires: Date = row["expires"] { expiries[row["device_id"]] = expires }
      }
      return expiries
    }
  }

  /// Revokes `serials` (the device's known certificates are added) and marks the device revoked.
  /// Returns the serials revoked for it now.
  public func revoke(_ device: DeviceID, serials: [String], reason: String?, by: String?, now: Date = Date())
    async throws
    -> [String]
  {
    try await db.write { db in
      let known = try String.fetchAll(
        db, sql: "SELECT serial FROM device_certificate WHERE device_id = ?", arguments: [device.rawValue])
      let all = Set(known + serials).sorted()
      guard !all.isEmpty else { throw StoreError.deviceNotFound(device.rawValue) }
      for serial in all {
        try db.execute(
          sql: """
            INSERT INTO revocation (serial, device_id, revoked_at, reason, revoked_by) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """, arguments: [serial, device.rawValue, now, reason, by])
      }
      try db.execute(
        sql: "UPDATE device SET revoked_at = ?, online = 0 WHERE id = ? AND revoked_at IS NULL",
        arguments: [now, device.rawValue])
      return all
    }
  }

  /// The reason recorded for certificates revoked because an enrollment replaced them.
  static let replacedReason = "replaced by a new enrollment"

  /// Revokes the device's current certificates because a new enrollment replaces them; the device itself is not
  /// revoked (its new certificate works). Returns the serials revoked.
  public func revokeReplaced(_ device: DeviceID, by: String?, now: Date = Date()) async throws -> [String] {
    try await db.write { db in
      let current = try String.fetchAll(
        db,
        sql: """
          SELECT serial FROM device_certificate WHERE device_id = ?
          AND serial NOT IN (SELECT serial FROM revocation)
          """, arguments: [device.rawValue])
      for serial in current {
        try db.execute(
          sql: """
            INSERT INTO revocation (serial, device_id, revoked_at, reason, revoked_by) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """, arguments: [serial, device.rawValue, now, Self.replacedReason, by])
      }
      return current
    }
  }

  /// Every revoked serial with its time (the CRL's content).
  public func revocations() async throws -> [(serial: String, device: String, revokedAt: Date)] {
    try await db.read { db in
      try SQLRow.fetchAll(db, sql: "SELECT serial, device_id, revoked_at FROM revocation ORDER BY serial").map {
        (serial: $0["serial"], device: $0["device_id"], revokedAt: $0["revoked_at"])
      }
    }
  }

  /// Devices whose certificates were revoked.
  public func revokedDevices() async throws -> Set<String> {
    try await db.read { db in
      Set(
        try String.fetchAll(
          db, sql: "SELECT DISTINCT device_id FROM revocation WHERE reason IS NULL OR reason <> ?",
          arguments: [Self.replacedReason]))
    }
  }
}
