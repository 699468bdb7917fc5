import AirliftCore
import Foundation

extension ControllerStore {
  /// Records a blob that was written to the blob store.
  public func recordBlob(
    sha256: String, size: Int64, index: API.ChunkIndexRef? = nil, pack: API.PackRef? = nil, now: Date = Date()
  ) async throws {
    try await db.write { db in
      // The index and the pack are blobs of their own, so devices and asset links fetch them as they fetch assets.
      for (blob, blobSize) in [(index?.sha256, index?.size), (pack?.sha256, pack?.size)] {
        guard let blob, let blobSize else { continue }
        try db.execute(
          sql: "INSERT INTO blob (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
          arguments: [blob, blobSize, now])
      }
      try db.execute(
        sql: """
          INSERT INTO blob (sha256, size, created_at, index_sha256, index_size, index_chunks, pack_sha256, pack_size)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (sha256) DO UPDATE SET index_sha256 = COALESCE(blob.index_sha256, excluded.index_sha256),
            index_size = COALESCE(blob.index_size, excluded.index_size),
            index_chunks = COALESCE(blob.index_chunks, excluded.index_chunks),
            pack_sha256 = CASE WHEN blob.index_sha256 IS NULL THEN excluded.pack_sha256 ELSE blob.pack_sha256 END,
            pack_size = CASE WHEN blob.index_sha256 IS NULL THEN excluded.pack_size ELSE blob.pack_size END
          """,
        arguments: [sha256, size, now, index?.sha256, index?.size, index?.chunks, pack?.sha256, pack?.size])
    }
  }

  /// Creates a release from blobs uploaded before, as a draft: assets may be added until it is sealed. Its
  /// repository must exist.
  public func addRelease(
    package: String, version: SemanticVersion, handler: String, parameters: [String: String] = [:],
    assets: [API.CreateRelease.AssetRef], apps: [ReleaseApp]? = nil, compatible: [String]? = nil,
    now: Date = Date()
  ) async throws -> API.Release {
    let ref = ReleaseRef(package: package, version: version.description)
    return try await db.write { db in
      if try Self.releaseID(ref, db: db) != nil { throw StoreError.releaseExists(ref) }
      try Self.requireRepository(Names.repository(of: package), db: db)
      for asset in assets
      where try SQLRow.fetchOne(db, sql: "SELECT 1 FROM blob WHERE sha256 = ?", arguments: [asset.sha256]) == nil {
        throw StoreError.blobNotFound(asset.sha256)
      }
      let inserted = try SQLRow.fetchOne(
        db,
        sql: """
          INSERT INTO release (package, version, handler, parameters, apps, created_at, compatible)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          RETURNING id
          """,
        arguments: [
          package, ref.version, handler, JSONColumn.encode(parameters),
          apps.flatMap { $0.isEmpty ? nil : String(decoding: Wire.encode($0), as: UTF8.self) }, now,
          compatible.flatMap { $0.isEmpty ? nil : String(decoding: Wire.encode($0.sorted()), as: UTF8.self) },
        ])
      guard let releaseID: Int64 = inserted?["id"] else { throw StoreError.releaseNotFound(ref) }
      for asset in assets {
        try db.execute(
          sql: "INSERT INTO release_asset (release_id, name, sha256) VALUES (?, ?, ?)",
          arguments: [releaseID, asset.name, asset.sha256])
      }
      return try Self.release(id: releaseID, db: db)
    }
  }

  public func release(_ ref: ReleaseRef) async throws -> API.Release? {
    try await db.read { db in try Self.releaseID(ref, db: db).map { try Self.release(id: $0, db: db) } }
  }

  /// Releases, newest version first within each package.
  public func releases(package: String? = nil) async throws -> [API.Release] {
    let list = try await db.read { db in
      let ids: [Int64]
      if let package {
        ids = try Int64.fetchAll(db, sql: "SELECT id FROM release WHERE package = ?", arguments: [package])
      } else {
        ids = try Int64.fetchAll(db, sql: "SELECT id FROM release")
      }
      return try ids.map { try Self.release(id: $0, db: db) }
    }
    return list.sorted { a, b in
      if a.package != b.package { return a.package < b.package }
      guard let va = try? SemanticVersion(a.version), let vb = try? SemanticVersion(b.version) else {
        return a.version > b.version
      }
      return vb < va
    }
  }

  /// Whether a release references this blob (only those are served to devices).
  public func blobIsReleased(sha256: String) async throws -> Bool {
    try await db.read { db in
      // An asset of a release, or the chunk index of one.
      try SQLRow.fetchOne(
        db,
        sql: """
          SELECT 1 FROM release_asset WHERE sha256 = ? UNION ALL SELECT 1 FROM release_asset
          JOIN blob ON blob.sha256 = release_asset.sha256 WHERE blob.index_sha256 = ? OR blob.pack_sha256 = ? LIMIT 1
          """, arguments: [sha256, sha256, sha256]) != nil
    }
  }

  // MARK: Tags

  /// Points a tag at a version, in one transaction: a locked tag never
  /// moves (setting it again to the same version is allowed), a floating
  /// tag moves atomically.
  public func setTag(package: String, name: String, version: String, locked: Bool, now: Date = Date()) async throws
    -> API.Tag
  {
    try await db.write { db in
      let ref = ReleaseRef(package: package, version: version)
      guard let releaseID = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      // Devices following the tag may fetch it from now on: its assets are fixed.
      try Self.seal(releaseID: releaseID, now: now, db: db)
      if let row = try SQLRow.fetchOne(
        db, sql: "SELECT version, locked FROM tag WHERE package = ? AND name = ?", arguments: [package, name]),
        row["locked"] as Bool
      {
        let current: String = row["version"]
        guard current == version else { throw StoreError.tagLocked(package: package, tag: name, version: current) }
        return API.Tag(package: package, name: name, version: current, locked: true, updatedAt: now)
      }
      try db.execute(
        sql: """
          INSERT INTO tag (package, name, version, locked, updated_at) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT(package, name) DO UPDATE SET version = excluded.version, locked = excluded.locked,
            updated_at = excluded.updated_at
          """, arguments: [package, name, version, locked, now])
      return API.Tag(package: package, name: name, version: version, locked: locked, updatedAt: now)
    }
  }

  public func tags(package: String) async throws -> [API.Tag] {
    try await db.read { db in
      try SQLRow.fetchAll(db, sql: "SELECT * FROM tag WHERE package = ? ORDER BY name", arguments: [package]).map {
        API.Tag(
          package: $0["package"], name: $0["name"], version: $0["version"], locked: $0["locked"],
          updatedAt: $0["updated_at"])
      }
    }
  }

  /// The version a tag points at now.
  public func resolveTag(package: String, name: String) async throws -> String {
    try await db.read { db in
      guard
        let version = try String.fetchOne(
          db, sql: "SELECT version FROM tag WHERE package = ? AND name = ?", arguments: [package, name])
      else { throw StoreError.tagNotFound(package: package, tag: name) }
      return version
    }
  }

  // MARK: Rows

  static func releaseID(_ ref: ReleaseRef, db: any SQLConnection) throws -> Int64? {
    try Int64.fetchOne(
      db, sql: "SELECT id FROM release WHERE package = ? AND version = ?", arguments: [ref.package, ref.version])
  }

  static func release(id: Int64, db: any SQLConnection) throws -> API.Release {
    guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM release WHERE id = ?", arguments: [id]) else {
      throw StoreError.releaseNotFound(ReleaseRef(package: "?", version: "?"))
    }
    let assets = try SQLRow.fetchAll(
      db,
      sql: """
        SELECT release_asset.name, blob.size, blob.sha256, blob.index_sha256, blob.index_size, blob.index_chunks,
          blob.pack_sha256, blob.pack_size
        FROM release_asset JOIN blob ON blob.sha256 = release_asset.sha256 WHERE release_id = ? ORDER BY name
        """, arguments: [id]
    ).map { row in
      let index: API.ChunkIndexRef? =
        if let sha: String = row["index_sha256"], let size: Int64 = row["index_size"],
          let chunks: Int = row["index_chunks"]
        {
          API.ChunkIndexRef(sha256: sha, size: size, chunks: chunks)
        } else { nil }
      let pack: API.PackRef? =
        if let sha: String = row["pack_sha256"], let size: Int64 = row["pack_size"] {
          API.PackRef(sha256: sha, size: size)
        } else { nil }
      return API.Asset(name: row["name"], size: row["size"], sha256: row["sha256"], index: index, pack: pack)
    }
    let package: String = row["package"]
    let version: String = row["version"]
    let tags = try String.fetchAll(
      db, sql: "SELECT name FROM tag WHERE package = ? AND version = ? ORDER BY name", arguments: [package, version])
    let signature = Self.signedManifest(row["signed_manifest"]).map {
      API.ReleaseSignature(
        key: $0.signature.key, expires: $0.manifest.expires, downgrade: $0.manifest.downgrade,
        signedAt: row["signed_at"], signedBy: row["signed_by"])
    }
    return API.Release(
      package: package, version: version, handler: row["handler"], parameters: JSONColumn.decode(row["parameters"]),
      assets: assets, tags: tags, createdAt: row["created_at"], policy: row["policy"], signature: signature,
      apps: (row["apps"] as String?).flatMap { try? JSONDecoder().decode([ReleaseApp].self, from: Data($0.utf8)) },
      metadata: try Self.metadataDocuments(releaseID: id, db: db),
      compatible: (row["compatible"] as String?).flatMap {
        try? JSONDecoder().decode([String].self, from: Data($0.utf8))
      }, sealedAt: row["sealed_at"])
  }

  static func signedManifest(_ text: String?) -> SignedManifest? {
    guard let text else { return nil }
    return try? JSONDecoder().decode(SignedManifest.self, from: Data(text.utf8))
  }

  /// Stores the signed manifest of a release, replacing an earlier one (to extend its expiry, or to allow a
  /// downgrade). It must describe the release exactly; the signature itself is checked by devices, which
  /// alone hold the trusted keys.
  public func signRelease(_ ref: ReleaseRef, with signed: SignedManifest, by signer: String?, now: Date = Date())
    async throws -> API.Release
  {
    try signed.manifest.validate()
    if let expiry = signed.manifest.expiryDate, expiry <= now { throw ReleaseRefusal.expired(signed.manifest.expires) }
    let hex = Set("0123456789abcdef".unicodeScalars)
    guard signed.signature.key.unicodeScalars.count == 16, signed.signature.key.unicodeScalars.allSatisfy(hex.contains),
      Data(base64Encoded: signed.signature.value)?.count == 64
    else {
      throw StoreError.manifestMismatch(
        ref, reason: "the signature must be a 16-hex key id and a base64 64-byte Ed25519 signature")
    }
    return try await db.write { db in
      guard let id = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      let release = try Self.release(id: id, db: db)
      let manifest = signed.manifest
      let signedRef = ReleaseRef(package: manifest.package, version: manifest.version)
      guard signedRef == ref else { throw StoreError.manifestMismatch(ref, reason: "it is signed for \(signedRef)") }
      guard manifest.handler == release.handler else {
        throw StoreError.manifestMismatch(
          ref, reason: "it names handler '\(manifest.handler)', the release '\(release.handler)'")
      }
      let stored = Set(release.assets.map { "\($0.sha256) \($0.size) \($0.name)" })
      let listed = Set(manifest.assets.map { "\($0.sha256) \($0.size) \($0.name)" })
      guard stored == listed else {
        let difference = stored.symmetricDifference(listed).sorted().prefix(3).joined(separator: "; ")
        throw StoreError.manifestMismatch(ref, reason: "its assets differ from the release's (\(difference))")
      }
      for asset in manifest.assets {
        guard let index = asset.index else { continue }
        guard release.assets.first(where: { $0.name == asset.name })?.index == index else {
          throw StoreError.manifestMismatch(
            ref, reason: "the chunk index it signs for '\(asset.name)' is not the one the controller made")
        }
      }
      guard (manifest.apps ?? []) == (release.apps ?? []) else {
        throw StoreError.manifestMismatch(ref, reason: "its apps or their images differ from the release's")
      }
      guard Set(manifest.compatible ?? []) == Set(release.compatible ?? []) else {
        throw StoreError.manifestMismatch(
          ref,
          reason:
            "it is for \((manifest.compatible ?? []).sorted()) and the release for \((release.compatible ?? []).sorted()) (compatible)"
        )
      }
      try db.execute(
        sql: "UPDATE release SET signed_manifest = ?, signed_at = ?, signed_by = ? WHERE id = ?",
        arguments: [String(decoding: Wire.encode(signed), as: UTF8.self), now, signer, id])
      // The signature lists the assets: one more would not match it.
      try Self.seal(releaseID: id, now: now, db: db)
      return try Self.release(id: id, db: db)
    }
  }

  /// A release's signed manifest, as its signer uploaded it.
  public func signedManifest(_ ref: ReleaseRef) async throws -> SignedManifest? {
    try await db.read { db in
      Self.signedManifest(
        try String.fetchOne(
          db, sql: "SELECT signed_manifest FROM release WHERE package = ? AND version = ?",
          arguments: [ref.package, ref.version]))
    }
  }
}
