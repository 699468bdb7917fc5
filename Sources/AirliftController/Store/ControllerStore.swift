import AirliftCore
import Foundation

/// The controller's truth: releases, devices, deployments, every status
/// event. Written once against the store seam, kept in SQLite (the default)
/// or PostgreSQL (for several controllers); safe to share between tasks.
public final class ControllerStore: Sendable {
  let db: any SQLDatabase

  /// Opens the database and brings its schema up to date.
  public init(database: any SQLDatabase) throws {
    db = database
    switch database.dialect {
    case .sqlite: try database.migrate(SQLiteSchema.migrations)
    case .postgres: try database.migrate(PostgresSchema.migrations)
    }
  }

  /// A SQLite file, created when missing.
  public convenience init(path: String) throws {
    try self.init(database: SQLiteDatabase(path: path))
  }

  /// `sqlite:PATH` or `postgres://USER@HOST:PORT/DB` (the config's `store`).
  public convenience init(location: String) throws {
    try self.init(database: Self.openDatabase(location))
  }

  static func openDatabase(_ location: String) throws -> any SQLDatabase {
    if location.hasPrefix("sqlite:") { return try SQLiteDatabase(path: String(location.dropFirst("sqlite:".count))) }
    if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
      return try PostgreSQLDatabase(url: location)
    }
    throw SQLDatabaseError.invalidLocation(location, reason: "it names neither sqlite: nor postgres://")
  }

  /// Runs `body` while no other controller on this database runs work named
  /// `name` (the scheduler's once-only steps).
  public func exclusively<T: Sendable>(_ name: String, _ body: @Sendable () async throws -> T) async throws -> T {
    try await db.exclusively(name, body)
  }

  /// Where the data lives, for logs.
  public var location: String { db.displayName }

  /// Commits a one-row write: throws when the database cannot take writes
  /// (a full disk, a read-only file), for `/readyz`.
  public func checkWritable(now: Date = Date()) async throws {
    try await db.write { db in
      try db.execute(
        sql: """
          INSERT INTO readiness (id, checked_at) VALUES (1, ?)
          ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at
          """, arguments: [now])
    }
  }
}

/// JSON text columns for string maps.
enum JSONColumn {
  static func encode(_ map: [String: String]) -> String {
    String(decoding: Wire.encode(map), as: UTF8.self)
  }

  static func decode(_ text: String?) -> [String: String] {
    guard let text, let data = text.data(using: .utf8) else { return [:] }
    return (try? JSONDecoder().decode([String: String].self, from: data)) ?? [:]
  }
}
