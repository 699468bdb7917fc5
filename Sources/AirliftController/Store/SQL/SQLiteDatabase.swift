import Foundation
import GRDB

/// The store seam on SQLite, through GRDB: one file in WAL mode, readers
/// beside one writer. The default; nothing to install or run.
public final class SQLiteDatabase: SQLDatabase {
  private let pool: DatabasePool
  public let displayName: String
  public var dialect: SQLDialect { .sqlite }

  public init(path: String) throws {
    var configuration = Configuration()
    configuration.busyMode = .timeout(5)
    pool = try DatabasePool(path: path, configuration: configuration)
    displayName = "sqlite:\(path)"
  }

  public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
    try await pool.read { db in try body(SQLiteConnection(db: db)) }
  }

  @discardableResult
  public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
    try await pool.write { db in try body(SQLiteConnection(db: db)) }
  }

  /// One controller per SQLite file, whose writes SQLite already serializes: nothing to claim.
  public func exclusively<T: Sendable>(_ name: String, _ body: @Sendable () async throws -> T) async throws -> T {
    try await body()
  }

  /// Copies the whole database into a new file at `path` with SQLite's online backup API, while the controller
  /// goes on writing (the copy is one consistent moment); then checks the copy's integrity.
  public func backup(to path: String) throws {
    let copy = try DatabaseQueue(path: path)
    try pool.backup(to: copy)
    let check = try copy.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    try copy.close()
    guard check == ["ok"] else {
      throw StoreBackupError.damaged(path: path, report: check.prefix(5).joined(separator: "; "))
    }
  }

  /// Puts the backup file at `path` in place of this database's contents, page by page (the controller must be
  /// stopped: it would not see the change).
  public func restore(from path: String) throws {
    let backup = try DatabaseQueue(path: path, configuration: Self.readOnly)
    try backup.backup(to: pool)
    try backup.close()
  }

  private static var readOnly: Configuration {
    var configuration = Configuration()
    configuration.readonly = true
    return configuration
  }

  /// Applies the missing steps in one IMMEDIATE transaction, which takes
  /// SQLite's write lock first, so two processes opening a new file do not
  /// both create it. Applied ids go in GRDB's `grdb_migrations` table, the
  /// history databases from before the seam already have.
  public func migrate(_ migrations: [SQLMigration]) throws {
    try pool.writeWithoutTransaction { db in
      try db.inTransaction(.immediate) {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
        let applied = Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
        for migration in migrations where !applied.contains(migration.id) {
          try db.execute(sql: migration.sql)
          try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migration.id])
        }
        return .commit
      }
    }
  }
}

private struct SQLiteConnection: SQLConnection {
  let db: Database
  var dialect: SQLDialect { .sqlite }

  func execute(sql: String, arguments: SQLArguments) throws -> Int {
    try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
    return db.changesCount
  }

  func fetchAll(sql: String, arguments: SQLArguments) throws -> [SQLRow] {
    let statement = try db.cachedStatement(sql: sql)
    let columns = statement.columnNames
    return try Row.fetchAll(statement, arguments: Self.arguments(arguments)).map { row in
      SQLRow(columns: columns, values: row.databaseValues.map(Self.value))
    }
  }

  func fetchOne(sql: String, arguments: SQLArguments) throws -> SQLRow? {
    let statement = try db.cachedStatement(sql: sql)
    let columns = statement.columnNames
    return try Row.fetchOne(statement, arguments: Self.arguments(arguments)).map { row in
      SQLRow(columns: columns, values: row.databaseValues.map(Self.value))
    }
  }

  private static func arguments(_ arguments: SQLArguments) -> StatementArguments {
    StatementArguments(
      arguments.values.map { value -> DatabaseValue in
        switch value {
        case .null: return .null
        case .integer(let number): return number.databaseValue
        case .real(let number): return number.databaseValue
        case .text(let text): return text.databaseValue
        case .blob(let data): return data.databaseValue
        case .date(let date): return date.databaseValue
        }
      })
  }

  private static func value(_ value: DatabaseValue) -> SQLValue {
    switch value.storage {
    case .null: return .null
    case .int64(let number): return .integer(number)
    case .double(let number): return .real(number)
    case .string(let text): return .text(text)
    case .blob(let data): return .blob(data)
    }
  }
}
