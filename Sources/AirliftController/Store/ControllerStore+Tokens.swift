import AirliftCore
import AirliftCrypto
import Foundation

/// Operator tokens (stored as the SHA-256 of their secret) and the audit log of operator writes.
extension ControllerStore {
  /// Makes a token; its secret (`alt_<id>_<random>`) is returned once and stored only as a hash.
  public func createToken(
    name: String, role: API.Role, repositories: [String: API.Role]? = nil, by creator: String?, now: Date = Date()
  ) async throws -> API.NewToken {
    do { try Names.validateTag(name) } catch { throw StoreError.invalidTokenName(name) }
    try Limits.check("repositories (how many)", repositories?.count, in: 0...100)
    for repository in repositories?.keys.sorted() ?? [] { try Names.validateRepository(repository) }
    let id = Self.randomHex(8)
    let secret = "alt_\(id)_\(Self.randomHex(32))"
    return try await db.write { db in
      if try SQLRow.fetchOne(db, sql: "SELECT 1 FROM operator_token WHERE name = ?", arguments: [name]) != nil {
        throw StoreError.tokenExists(name)
      }
      for repository in repositories?.keys.sorted() ?? [] { try Self.requireRepository(repository, db: db) }
      try db.execute(
        sql: """
          INSERT INTO operator_token (id, name, role, secret_sha256, created_at, created_by, repositories)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          id, name, role.rawValue, SHA256Hasher.hex(of: Array(secret.utf8)), now, creator,
          repositories.map { String(decoding: Wire.encode($0), as: UTF8.self) },
        ])
      return API.NewToken(
        token: API.Token(name: name, role: role, createdAt: now, createdBy: creator, repositories: repositories),
        secret: secret)
    }
  }

  /// The token's name, role and repository limit when `secret` is a live token; nil otherwise. Records its
  /// use, at most once a minute (a read per request, not a write).
  public func authenticate(token secret: String, now: Date = Date()) async throws
    -> (name: String, role: API.Role, scope: RepositoryScope?)?
  {
    let parts = secret.split(separator: "_")
    guard parts.count == 3, parts[0] == "alt" else { return nil }
    let id = String(parts[1])
    let digest = SHA256Hasher.hex(of: Array(secret.utf8))
    guard
      let row = try await db.read({ db in
        try SQLRow.fetchOne(
          db, sql: "SELECT * FROM operator_token WHERE id = ? AND revoked_at IS NULL", arguments: [id])
      }),
      Self.constantTimeEqual(row["secret_sha256"], digest),
      let role = API.Role(rawValue: row["role"])
    else { return nil }
    if ((row["last_used_at"] as Date?).map { now.timeIntervalSince($0) >= 60 }) ?? true {
      try await db.write { db in
        try db.execute(sql: "UPDATE operator_token SET last_used_at = ? WHERE id = ?", arguments: [now, id])
      }
    }
    return (row["name"], role, Self.scope(row["repositories"]))
  }

  public func tokens() async throws -> [API.Token] {
    try await db.read { db in
      try SQLRow.fetchAll(db, sql: "SELECT * FROM operator_token ORDER BY name").map {
        API.Token(
          name: $0["name"], role: API.Role(rawValue: $0["role"]) ?? .reader, createdAt: $0["created_at"],
          createdBy: $0["created_by"], lastUsedAt: $0["last_used_at"], revokedAt: $0["revoked_at"],
          repositories: Self.scope($0["repositories"])?.roles)
      }
    }
  }

  /// Ends a token at once; it stays listed, revoked.
  public func revokeToken(name: String, now: Date = Date()) async throws {
    try await db.write { db in
      let revoked = try db.execute(
        sql: "UPDATE operator_token SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", arguments: [now, name])
      if revoked == 0 { throw StoreError.tokenNotFound(name) }
    }
  }

  /// Records one operator write.
  public func audit(_ entry: API.AuditEntry) async throws {
    try await db.write { db in
      try db.execute(
        sql: "INSERT INTO audit (at, actor, method, path, status) VALUES (?, ?, ?, ?, ?)",
        arguments: [entry.at, entry.actor, entry.method, entry.path, entry.status])
    }
  }

  /// The newest audit entries first.
  public func auditLog(limit: Int = 100) async throws -> [API.AuditEntry] {
    try await db.read { db in
      try SQLRow.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
        API.AuditEntry(at: $0["at"], actor: $0["actor"], method: $0["method"], path: $0["path"], status: $0["status"])
      }
    }
  }

  static func randomHex(_ bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return Hex.encode((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
  }

  static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let (x, y) = (Array(a.utf8), Array(b.utf8))
    guard x.count == y.count else { return false }
    return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
  }
}
