import AirliftCore
import Foundation
import GRDB

/// Why a store operation was refused.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
  case releaseExists(ReleaseRef)
  case releaseNotFound(ReleaseRef)
  case deploymentNotFound(String)
  case noTargetDevices

  public var description: String {
    switch self {
    case .releaseExists(let ref):
      return "release \(ref) already exists; versions are immutable, publish a new version instead"
    case .releaseNotFound(let ref):
      return "release \(ref) not found; `airlift release list` shows what exists"
    case .deploymentNotFound(let id):
      return "deployment '\(id)' not found"
    case .noTargetDevices:
      return "the deployment targets no device: name devices, or use all devices once some have checked in"
    }
  }
}

extension ControllerStore {
  /// Records a release whose assets are already stored as blobs.
  public func addRelease(
    package: String, version: SemanticVersion, handler: String, assets: [API.Asset], now: Date = Date()
  ) throws -> API.Release {
    let ref = ReleaseRef(package: package, version: version.description)
    return try db.write { db in
      if try Row.fetchOne(
        db, sql: "SELECT 1 FROM release WHERE package = ? AND version = ?", arguments: [package, ref.version])
        != nil
      {
        throw StoreError.releaseExists(ref)
      }
      try db.execute(
        sql: "INSERT INTO release (package, version, handler, created_at) VALUES (?, ?, ?, ?)",
        arguments: [package, ref.version, handler, now])
      let releaseID = db.lastInsertedRowID
      for asset in assets {
        try db.execute(
          sql: "INSERT OR IGNORE INTO blob (sha256, size, created_at) VALUES (?, ?, ?)",
          arguments: [asset.sha256, asset.size, now])
        try db.execute(
          sql: "INSERT INTO release_asset (release_id, name, sha256) VALUES (?, ?, ?)",
          arguments: [releaseID, asset.name, asset.sha256])
      }
      return API.Release(package: package, version: ref.version, handler: handler, assets: assets, createdAt: now)
    }
  }

  public func release(_ ref: ReleaseRef) throws -> API.Release? {
    try db.read { db in
      guard
        let row = try Row.fetchOne(
          db, sql: "SELECT * FROM release WHERE package = ? AND version = ?", arguments: [ref.package, ref.version])
      else { return nil }
      return try Self.release(from: row, db: db)
    }
  }

  /// Releases, newest version first within each package.
  public func releases(package: String? = nil) throws -> [API.Release] {
    let list = try db.read { db in
      let rows: [Row]
      if let package {
        rows = try Row.fetchAll(db, sql: "SELECT * FROM release WHERE package = ?", arguments: [package])
      } else {
        rows = try Row.fetchAll(db, sql: "SELECT * FROM release")
      }
      return try rows.map { try Self.release(from: $0, db: db) }
    }
    return list.sorted { a, b in
      if a.package != b.package { return a.package < b.package }
      guard let va = try? SemanticVersion(a.version), let vb = try? SemanticVersion(b.version) else {
        return a.version > b.version
      }
      return vb < va
    }
  }

  /// Whether a blob with this digest is referenced by a release.
  public func blobExists(sha256: String) throws -> Bool {
    try db.read { db in
      try Row.fetchOne(db, sql: "SELECT 1 FROM blob WHERE sha256 = ?", arguments: [sha256]) != nil
    }
  }

  static func release(from row: Row, db: Database) throws -> API.Release {
    let id: Int64 = row["id"]
    let assets = try Row.fetchAll(
      db,
      sql: """
        SELECT release_asset.name, blob.size, blob.sha256 FROM release_asset
        JOIN blob ON blob.sha256 = release_asset.sha256 WHERE release_id = ? ORDER BY name
        """, arguments: [id]
    ).map { API.Asset(name: $0["name"], size: $0["size"], sha256: $0["sha256"]) }
    return API.Release(
      package: row["package"], version: row["version"], handler: row["handler"], assets: assets,
      createdAt: row["created_at"])
  }
}
