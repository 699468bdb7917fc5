import AirliftCore
import Foundation

/// Repositories, draft versions, and which repositories tokens and devices may reach.
extension ControllerStore {
  public func createRepository(_ body: API.CreateRepository, by creator: String?, now: Date = Date()) async throws
    -> API.Repository
  {
    try Names.validateRepository(body.name)
    let description = body.description ?? ""
    try Limits.check("description (bytes)", description.utf8.count, in: 0...1024)
    return try await db.write { db in
      if try Self.repositoryExists(body.name, db: db) { throw RepositoryError.exists(body.name) }
      try db.execute(
        sql: "INSERT INTO repository (name, description, created_at, created_by) VALUES (?, ?, ?, ?)",
        arguments: [body.name, description, now, creator])
      return try Self.repository(body.name, db: db)
    }
  }

  /// Every repository, by name, with its packages.
  public func repositories() async throws -> [API.Repository] {
    try await db.read { db in
      let counts = try Self.packageCounts(db)
      return try SQLRow.fetchAll(db, sql: "SELECT * FROM repository ORDER BY name").map {
        Self.repository(row: $0, counts: counts)
      }
    }
  }

  public func repository(_ name: String) async throws -> API.Repository {
    try Names.validateRepository(name)
    return try await db.read { db in try Self.repository(name, db: db) }
  }

  /// Deletes an empty repository (its releases may still be named by deployments and devices).
  public func deleteRepository(_ name: String) async throws {
    try Names.validateRepository(name)
    guard name != Names.defaultRepository else { throw RepositoryError.defaultKept }
    try await db.write { db in
      let repository = try Self.repository(name, db: db)
      guard repository.releases == 0 else { throw RepositoryError.notEmpty(name, releases: repository.releases) }
      try db.execute(sql: "DELETE FROM repository WHERE name = ?", arguments: [name])
    }
  }

  static func repositoryExists(_ name: String, db: any SQLConnection) throws -> Bool {
    try SQLRow.fetchOne(db, sql: "SELECT 1 FROM repository WHERE name = ?", arguments: [name]) != nil
  }

  static func requireRepository(_ name: String, db: any SQLConnection) throws {
    guard try repositoryExists(name, db: db) else { throw RepositoryError.notFound(name) }
  }

  private static func repository(_ name: String, db: any SQLConnection) throws -> API.Repository {
    guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM repository WHERE name = ?", arguments: [name]) else {
      throw RepositoryError.notFound(name)
    }
    return repository(row: row, counts: try packageCounts(db))
  }

  /// Versions per package, grouped in SQL and matched to repositories here: the same on both databases (a
  /// package's repository is its name's prefix).
  private static func packageCounts(_ db: any SQLConnection) throws -> [(package: String, versions: Int)] {
    try SQLRow.fetchAll(db, sql: "SELECT package, count(*) AS n FROM release GROUP BY package ORDER BY package")
      .map { ($0["package"], $0["n"]) }
  }

  private static func repository(row: SQLRow, counts: [(package: String, versions: Int)]) -> API.Repository {
    let name: String = row["name"]
    let own = counts.filter { Names.repository(of: $0.package) == name }
    return API.Repository(
      name: name, description: row["description"], createdAt: row["created_at"], createdBy: row["created_by"],
      packages: own.map(\.package), releases: own.reduce(0) { $0 + $1.versions })
  }

  // MARK: Draft versions

  /// Adds one asset to a draft version.
  public func addAsset(_ ref: ReleaseRef, _ asset: API.AddAsset) async throws -> API.Release {
    try await db.write { db in
      guard let id = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      if let sealed: Date = try SQLRow.fetchOne(
        db, sql: "SELECT sealed_at FROM release WHERE id = ?", arguments: [id])?[
          "sealed_at"]
      {
        throw RepositoryError.sealed(ref, at: sealed)
      }
      guard try SQLRow.fetchOne(db, sql: "SELECT 1 FROM blob WHERE sha256 = ?", arguments: [asset.sha256]) != nil else {
        throw StoreError.blobNotFound(asset.sha256)
      }
      if try SQLRow.fetchOne(
        db, sql: "SELECT 1 FROM release_asset WHERE release_id = ? AND name = ?", arguments: [id, asset.name]) != nil
      {
        throw RepositoryError.assetExists(ref, name: asset.name)
      }
      try db.execute(
        sql: "INSERT INTO release_asset (release_id, name, sha256) VALUES (?, ?, ?)",
        arguments: [id, asset.name, asset.sha256])
      return try Self.release(id: id, db: db)
    }
  }

  /// Fixes a version's assets by hand (sealing twice keeps the first time).
  public func sealRelease(_ ref: ReleaseRef, now: Date = Date()) async throws -> API.Release {
    try await db.write { db in
      guard let id = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      try Self.seal(releaseID: id, now: now, db: db)
      return try Self.release(id: id, db: db)
    }
  }

  /// Marks a version sealed unless it is already.
  static func seal(releaseID: Int64, now: Date, db: any SQLConnection) throws {
    try db.execute(
      sql: "UPDATE release SET sealed_at = ? WHERE id = ? AND sealed_at IS NULL", arguments: [now, releaseID])
  }

  // MARK: Who may reach which repository

  /// The repository limit of a live token, by name; nil: none.
  public func tokenScope(name: String) async throws -> RepositoryScope? {
    try await db.read { db in
      try Self.scope(
        String.fetchOne(db, sql: "SELECT repositories FROM operator_token WHERE name = ?", arguments: [name]))
    }
  }

  static func scope(_ column: String?) -> RepositoryScope? {
    column.flatMap { try? JSONDecoder().decode([String: API.Role].self, from: Data($0.utf8)) }.map(
      RepositoryScope.init(roles:))
  }

  /// Limits a device to some repositories (nil: all); each must exist.
  public func setDeviceRepositories(_ device: String, _ repositories: [String]?) async throws
    -> API.DeviceRepositories
  {
    let list = repositories.map { Array(Set($0)).sorted() }
    try Limits.check("repositories (how many)", list?.count, in: 0...100)
    for name in list ?? [] { try Names.validateRepository(name) }
    return try await db.write { db in
      for name in list ?? [] { try Self.requireRepository(name, db: db) }
      let updated = try db.execute(
        sql: "UPDATE device SET repositories = ? WHERE id = ?",
        arguments: [list.map { String(decoding: Wire.encode($0), as: UTF8.self) }, device])
      if updated == 0 { throw StoreError.deviceNotFound(device) }
      return API.DeviceRepositories(device: device, repositories: list)
    }
  }

  /// The repositories a device may read (nil: all, also for a device never seen).
  public func deviceRepositories(_ device: String) async throws -> Set<String>? {
    try await db.read { db in
      try String.fetchOne(db, sql: "SELECT repositories FROM device WHERE id = ?", arguments: [device])
        .flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }.map(Set.init)
    }
  }

  /// The repositories whose releases hold this blob (as an asset, or as an asset's chunk index or pack).
  public func repositoriesHolding(blob sha256: String) async throws -> Set<String> {
    try await db.read { db in
      Set(
        try String.fetchAll(
          db,
          sql: """
            SELECT DISTINCT release.package FROM release_asset
            JOIN release ON release.id = release_asset.release_id
            JOIN blob ON blob.sha256 = release_asset.sha256
            WHERE release_asset.sha256 = ? OR blob.index_sha256 = ? OR blob.pack_sha256 = ?
            """, arguments: [sha256, sha256, sha256]
        ).map(Names.repository(of:)))
    }
  }

  /// Of `devices`, those that may not read `repository`.
  static func devicesWithoutAccess(_ devices: [String], to repository: String, db: any SQLConnection) throws
    -> [String]
  {
    let limited = try SQLRow.fetchAll(db, sql: "SELECT id, repositories FROM device WHERE repositories IS NOT NULL")
    var refused = Set<String>()
    for row in limited {
      let allowed = (row["repositories"] as String?).flatMap {
        try? JSONDecoder().decode([String].self, from: Data($0.utf8))
      }
      if let allowed, !allowed.contains(repository) { refused.insert(row["id"]) }
    }
    return devices.filter(refused.contains)
  }
}
