import AirliftCore
import AirliftCrypto
import Foundation

/// Metadata documents of versions: attached once, then read by operators, the dashboard and devices.
extension ControllerStore {
  /// Attaches a document to a version. The same bytes again are a no-op;
  /// other bytes under a taken name are refused (documents are immutable, like versions).
  public func attachMetadata(
    _ ref: ReleaseRef, name: String, document: [UInt8], kind: MetadataKind, by creator: String?, now: Date = Date()
  ) async throws -> API.MetadataDocument {
    let digest = SHA256Hasher.hex(of: document)
    return try await db.write { db in
      guard let releaseID = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      if let existing = try Self.metadataDocuments(releaseID: releaseID, db: db).first(where: { $0.name == name }) {
        guard existing.sha256 == digest else { throw StoreError.metadataExists(ref, name: name) }
        return existing
      }
      try db.execute(
        sql: """
          INSERT INTO release_metadata (release_id, name, kind, content, sha256, created_at, created_by)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          """, arguments: [releaseID, name, kind.rawValue, Data(document), digest, now, creator])
      return API.MetadataDocument(
        name: name, kind: kind, size: document.count, sha256: digest, createdAt: now, createdBy: creator)
    }
  }

  /// A document's bytes as attached.
  public func metadata(_ ref: ReleaseRef, name: String) async throws -> [UInt8] {
    try await db.read { db in
      guard let releaseID = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      guard
        let content = try Data.fetchOne(
          db, sql: "SELECT content FROM release_metadata WHERE release_id = ? AND name = ?",
          arguments: [releaseID, name])
      else { throw StoreError.metadataNotFound(ref, name: name) }
      return Array(content)
    }
  }

  static func metadataDocuments(releaseID: Int64, db: any SQLConnection) throws -> [API.MetadataDocument] {
    try SQLRow.fetchAll(
      db,
      sql: """
        SELECT name, kind, length(content) AS size, sha256, created_at, created_by FROM release_metadata
        WHERE release_id = ? ORDER BY name
        """, arguments: [releaseID]
    ).map {
      API.MetadataDocument(
        name: $0["name"], kind: MetadataKind(rawValue: $0["kind"]) ?? .json, size: $0["size"], sha256: $0["sha256"],
        createdAt: $0["created_at"], createdBy: $0["created_by"])
    }
  }
}
