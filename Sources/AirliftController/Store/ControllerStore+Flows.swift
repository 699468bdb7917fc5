import AirliftCore
import Foundation

/// Update flows: every version is kept (deployments name the one they ran);
/// deleting a flow hides all its versions, and a flow created again under
/// the same name continues the numbering.
extension ControllerStore {
  /// Stores `definition` as the flow's next version (1 for a new name).
  public func createFlow(_ definition: API.CreateFlow, by creator: String?, now: Date = Date()) async throws -> API.Flow
  {
    let text = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
    return try await db.write { db in
      let version =
        (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM flow WHERE name = ?", arguments: [definition.name]) ?? 0)
        + 1
      try db.execute(
        sql: "INSERT INTO flow (name, version, definition, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
        arguments: [definition.name, version, text, now, creator])
      return API.Flow(version: version, definition: definition, createdAt: now, createdBy: creator)
    }
  }

  /// A flow's newest version, or the given one; nil when there is none or the flow was deleted.
  public func flow(_ name: String, version: Int? = nil) async throws -> API.Flow? {
    try await db.read { db in
      let row =
        if let version {
          try SQLRow.fetchOne(
            db, sql: "SELECT * FROM flow WHERE name = ? AND version = ? AND deleted_at IS NULL",
            arguments: [name, version])
        } else {
          try SQLRow.fetchOne(
            db, sql: "SELECT * FROM flow WHERE name = ? AND deleted_at IS NULL ORDER BY version DESC LIMIT 1",
            arguments: [name])
        }
      return try row.map(Self.flow)
    }
  }

  /// The newest version of every flow, by name.
  public func flows() async throws -> [API.Flow] {
    try await db.read { db in
      try SQLRow.fetchAll(
        db,
        sql: """
          SELECT * FROM flow AS f WHERE deleted_at IS NULL
          AND version = (SELECT MAX(version) FROM flow WHERE name = f.name) ORDER BY name
          """
      ).map(Self.flow)
    }
  }

  /// Every version of a flow, oldest first.
  public func flowVersions(_ name: String) async throws -> [API.Flow] {
    try await db.read { db in
      try SQLRow.fetchAll(
        db, sql: "SELECT * FROM flow WHERE name = ? AND deleted_at IS NULL ORDER BY version", arguments: [name]
      ).map(Self.flow)
    }
  }

  /// Hides every version of a flow; the deployments it launched keep naming them.
  public func deleteFlow(_ name: String, now: Date = Date()) async throws {
    try await db.write { db in
      let hidden = try db.execute(
        sql: "UPDATE flow SET deleted_at = ? WHERE name = ? AND deleted_at IS NULL", arguments: [now, name])
      guard hidden > 0 else { throw StoreError.flowNotFound(name, version: nil) }
    }
  }

  private static func flow(_ row: SQLRow) throws -> API.Flow {
    API.Flow(
      version: row["version"],
      definition: try JSONDecoder().decode(API.CreateFlow.self, from: Data((row["definition"] as String).utf8)),
      createdAt: row["created_at"], createdBy: row["created_by"])
  }
}
