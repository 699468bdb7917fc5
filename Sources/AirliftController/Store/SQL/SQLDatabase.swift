import Foundation

/// The store seam: the one thing the controller's store needs from a
/// database. The store's SQL is written once against it; SQLite (GRDB) and
/// PostgreSQL (postgres-nio) each implement it in one file.
///
/// Bodies are synchronous and run on the database's own threads (GRDB's
/// queues, a thread pool for PostgreSQL), never on the cooperative pool:
/// a body waiting for the server does not hold up the controller's tasks.
public protocol SQLDatabase: Sendable {
  var dialect: SQLDialect { get }
  /// Runs `body` on a consistent snapshot.
  func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
  /// Runs `body` in one transaction: all of it commits, or none of it. The
  /// body may run more than once when the database asks for a retry, so it
  /// must not have effects outside the database.
  @discardableResult
  func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
  /// Runs `body` holding the claim `name`: controllers sharing the database
  /// take turns, so work that must happen once is never done by two at once.
  /// A controller that dies loses its claim with its connection.
  func exclusively<T: Sendable>(_ name: String, _ body: @Sendable () async throws -> T) async throws -> T
  /// Applies the migrations not applied yet, in order, each once even when
  /// several controllers start together.
  func migrate(_ migrations: [SQLMigration]) throws
  /// Where the data lives, for logs (no password).
  var displayName: String { get }
}

/// A connection inside a `read` or `write`.
public protocol SQLConnection {
  var dialect: SQLDialect { get }
  /// Runs one statement; returns how many rows it changed.
  @discardableResult func execute(sql: String, arguments: SQLArguments) throws -> Int
  func fetchAll(sql: String, arguments: SQLArguments) throws -> [SQLRow]
  func fetchOne(sql: String, arguments: SQLArguments) throws -> SQLRow?
}

extension SQLConnection {
  @discardableResult public func execute(sql: String) throws -> Int { try execute(sql: sql, arguments: []) }

  public func fetchOne(sql: String, arguments: SQLArguments) throws -> SQLRow? {
    try fetchAll(sql: sql, arguments: arguments).first
  }

  /// A statement run many times in a loop (SQLite reuses the compiled one).
  public func cachedStatement(sql: String) -> SQLStatement { SQLStatement(connection: self, sql: sql) }
}

/// A statement bound to a connection, run with different values.
public struct SQLStatement {
  let connection: any SQLConnection
  let sql: String

  @discardableResult public func execute(arguments: SQLArguments) throws -> Int {
    try connection.execute(sql: sql, arguments: arguments)
  }
}

/// What differs between the two databases' SQL; everything else is written
/// once in the subset both understand.
public enum SQLDialect: String, Sendable {
  case sqlite
  case postgres

  /// A FROM item with one row per entry of a JSON object column: `alias.key`, `alias.value` (text).
  public func jsonEntries(of column: String, as alias: String) -> String {
    switch self {
    case .sqlite: return "json_each(\(column)) AS \(alias)"
    case .postgres: return "jsonb_each_text(\(column)::jsonb) AS \(alias)(key, value)"
    }
  }

  /// The text value under the key `keyExpression` of a JSON object column.
  public func jsonText(of column: String, key keyExpression: String) -> String {
    switch self {
    case .sqlite: return "json_extract(\(column), '$.\"' || \(keyExpression) || '\"')"
    case .postgres: return "(\(column)::jsonb ->> \(keyExpression))"
    }
  }
}

/// One schema step, by an id that never changes once released.
public struct SQLMigration: Sendable {
  public let id: String
  public let sql: String

  public init(_ id: String, _ sql: String) {
    self.id = id
    self.sql = sql
  }
}

/// A row read through the seam; columns by name, case-insensitively.
public struct SQLRow: Sendable {
  let columns: [String]
  let values: [SQLValue]

  public init(columns: [String], values: [SQLValue]) {
    self.columns = columns
    self.values = values
  }

  public func value(_ column: String) -> SQLValue {
    if let index = columns.firstIndex(of: column) { return values[index] }
    let lowered = column.lowercased()
    guard let index = columns.firstIndex(where: { $0.lowercased() == lowered }) else { return .null }
    return values[index]
  }

  public subscript<T: SQLValueConvertible>(_ column: String) -> T? {
    T.fromSQL(value(column))
  }

  /// A value the schema says is never NULL; a NULL or another type here is a bug in the store.
  public subscript<T: SQLValueConvertible>(_ column: String) -> T {
    guard let value = T.fromSQL(value(column)) else {
      preconditionFailure("column \(column) holds \(value(column)), not \(T.self)")
    }
    return value
  }

  public subscript<T: SQLValueConvertible>(_ index: Int) -> T? {
    index < values.count ? T.fromSQL(values[index]) : nil
  }

  public static func fetchAll(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws
    -> [SQLRow]
  {
    try db.fetchAll(sql: sql, arguments: arguments)
  }

  public static func fetchOne(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws
    -> SQLRow?
  {
    try db.fetchOne(sql: sql, arguments: arguments)
  }

  public static func fetchOne(_ statement: SQLStatement, arguments: SQLArguments = []) throws -> SQLRow? {
    try statement.connection.fetchOne(sql: statement.sql, arguments: arguments)
  }

  public static func fetchAll(_ statement: SQLStatement, arguments: SQLArguments = []) throws -> [SQLRow] {
    try statement.connection.fetchAll(sql: statement.sql, arguments: arguments)
  }
}

extension SQLValueConvertible {
  /// The first column of every row (NULLs skipped).
  public static func fetchAll(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> [Self] {
    try db.fetchAll(sql: sql, arguments: arguments).compactMap { $0[0] }
  }

  /// The first column of the first row; nil when there is no row or it is NULL.
  public static func fetchOne(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> Self? {
    try db.fetchOne(sql: sql, arguments: arguments).flatMap { $0[0] }
  }

  public static func fetchOne(_ statement: SQLStatement, arguments: SQLArguments = []) throws -> Self? {
    try SQLRow.fetchOne(statement, arguments: arguments).flatMap { $0[0] }
  }
}
