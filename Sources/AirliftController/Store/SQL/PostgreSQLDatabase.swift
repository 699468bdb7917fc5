import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOPosix
import PostgresNIO
import Synchronization

/// The store seam on PostgreSQL, through postgres-nio: the database several
/// controllers share. Writes run SERIALIZABLE and are retried when the
/// server reports a conflict with another controller, so the store keeps
/// SQLite's one-writer semantics across processes; within one process they
/// take turns, as on SQLite, so they never conflict with each other.
///
/// Transaction bodies are synchronous (the store's SQL is written once for
/// both databases); each runs on a thread of this database's own pool and
/// waits for the server there, never on an event loop or the cooperative pool.
public final class PostgreSQLDatabase: SQLDatabase {
  public var dialect: SQLDialect { .postgres }
  public let displayName: String
  private let configuration: PostgresConnection.Configuration
  private let idle = Mutex<[PostgresConnection]>([])
  private let slots: DispatchSemaphore
  private let writer = NSLock()
  private let connectionCount = Atomic<Int>(0)
  private let statements = PostgresStatementCache()
  private let logger = Logger(label: "airlift.postgres")
  private let threads: NIOThreadPool

  /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]`.
  public init(url: String, maxConnections: Int = 8) throws {
    let location = try PostgresLocation(url)
    displayName = location.display
    configuration = try location.configuration()
    slots = DispatchSemaphore(value: maxConnections)
    threads = NIOThreadPool(numberOfThreads: maxConnections)
    threads.start()
    // Fail at start, with the reason, when the server cannot be reached.
    try withConnection { _ in }
  }

  /// Without waiting: the last reference may go on an event loop, where waiting is not allowed. Each
  /// connection stays alive until its close has completed.
  deinit {
    threads.shutdownGracefully { _ in }
    for connection in idle.withLock({ $0 }) {
      connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
  }

  public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
    try await threads.runIfActive { try self.readNow(body) }
  }

  @discardableResult
  public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
    try await threads.runIfActive { try self.writeNow(body) }
  }

  private func readNow<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
    try withConnection { connection in
      try PostgreSQLConnection(connection: connection, statements: statements, logger: logger)
        .transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }
  }

  private func writeNow<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
    writer.lock()
    defer { writer.unlock() }
    var attempt = 0
    while true {
      attempt += 1
      do {
        return try withConnection { connection in
          try PostgreSQLConnection(connection: connection, statements: statements, logger: logger)
            .transaction("BEGIN ISOLATION LEVEL SERIALIZABLE", body)
        }
      } catch let error as SQLDatabaseError where error.isConflict && attempt < 20 {
        // Another controller wrote the same rows: run the whole transaction again on fresh data.
        Thread.sleep(forTimeInterval: Double.random(in: 0.001...0.005) * Double(attempt))
      }
    }
  }

  /// A session-level advisory lock on a connection of its own, taken with
  /// `pg_try_advisory_lock` and retried after a short sleep, so a waiting
  /// controller holds neither a thread nor a connection; the holder's
  /// connection closing (the process dying) frees it at once.
  public func exclusively<T: Sendable>(_ name: String, _ body: @Sendable () async throws -> T) async throws -> T {
    let key = Self.claimKey(name)
    let holder: PostgresConnection = try await {
      while true {
        let taken: PostgresConnection? = try await threads.runIfActive {
          let connection = try self.checkout()
          let session = PostgreSQLConnection(connection: connection, statements: self.statements, logger: self.logger)
          let locked: Bool? = try? Bool.fetchOne(session, sql: "SELECT pg_try_advisory_lock(?)", arguments: [key])
          if locked == true { return connection }
          self.checkin(connection)
          return nil
        }
        if let taken { return taken }
        try await Task.sleep(for: .milliseconds(20))
      }
    }()
    // Released even when the caller's task was cancelled (a controller shutting down): a task of its own,
    // which the cancellation does not reach, returns the connection.
    let release: @Sendable () async -> Void = {
      await Task {
        _ = try? await self.threads.runIfActive {
          let session = PostgreSQLConnection(connection: holder, statements: self.statements, logger: self.logger)
          _ = try? session.execute(sql: "SELECT pg_advisory_unlock(?)", arguments: [key])
          self.checkin(holder)
        }
      }.value
    }
    do {
      let value = try await body()
      await release()
      return value
    } catch {
      await release()
      throw error
    }
  }

  /// The advisory-lock key of a claim: FNV-1a of "airlift:NAME", as a signed 64-bit integer.
  static func claimKey(_ name: String) -> Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in "airlift:\(name)".utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return Int64(bitPattern: hash)
  }

  /// Each migration in its own transaction, all under an advisory lock, so
  /// controllers starting together apply each step once.
  public func migrate(_ migrations: [SQLMigration]) throws {
    try withConnection { connection in
      let session = PostgreSQLConnection(connection: connection, statements: statements, logger: logger)
      try session.simple("SELECT pg_advisory_lock(\(Self.migrationLock))")
      defer { try? session.simple("SELECT pg_advisory_unlock(\(Self.migrationLock))") }
      try session.simple(
        "CREATE TABLE IF NOT EXISTS airlift_migration (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
      )
      let applied = Set(try String.fetchAll(session, sql: "SELECT id FROM airlift_migration"))
      for migration in migrations where !applied.contains(migration.id) {
        let id = migration.id.replacingOccurrences(of: "'", with: "''")
        try session.transaction("BEGIN") { _ in
          try session.simple(migration.sql)
          try session.run("INSERT INTO airlift_migration (id) VALUES ('\(id)')")
        }
      }
    }
  }

  /// An arbitrary constant naming the migration lock ("airlift" in ASCII).
  private static let migrationLock: Int64 = 0x6169_726c_6966_74

  /// Borrows a pooled connection for `body` and gives it back.
  private func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
    let connection = try checkout()
    defer { checkin(connection) }
    return try body(connection)
  }

  /// Takes a pool slot and an idle connection, or opens one.
  private func checkout() throws -> PostgresConnection {
    slots.wait()
    if let reused = idle.withLock({ $0.popLast() }), !reused.isClosed { return reused }
    let id = connectionCount.add(1, ordering: .relaxed).newValue
    do {
      return try PostgresConnection.connect(
        on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: id, logger: logger
      ).wait()
    } catch {
      slots.signal()
      throw SQLDatabaseError.unreachable(displayName, reason: SQLDatabaseError.describe(error))
    }
  }

  /// Returns a connection to the pool; one the server closed is dropped.
  private func checkin(_ connection: PostgresConnection) {
    if connection.isClosed {
      try? connection.close().wait()
    } else {
      idle.withLock { $0.append(connection) }
    }
    slots.signal()
  }
}

/// One borrowed connection inside a transaction.
private struct PostgreSQLConnection: SQLConnection {
  let connection: PostgresConnection
  let statements: PostgresStatementCache
  let logger: Logger
  var dialect: SQLDialect { .postgres }

  func execute(sql: String, arguments: SQLArguments) throws -> Int {
    try query(sql, arguments).metadata.rows ?? 0
  }

  func fetchAll(sql: String, arguments: SQLArguments) throws -> [SQLRow] {
    try query(sql, arguments).rows.map(Self.row)
  }

  func run(_ sql: String) throws {
    _ = try query(sql, [])
  }

  /// `body` between `begin` and COMMIT; rolled back when it throws.
  func transaction<T>(_ begin: String, _ body: (any SQLConnection) throws -> T) throws -> T {
    try run(begin)
    do {
      let value = try body(self)
      try run("COMMIT")
      return value
    } catch {
      try? run("ROLLBACK")
      throw error
    }
  }

  /// Several statements separated by `;`, without parameters (schema steps), one after the other.
  func simple(_ sql: String) throws {
    for statement in PostgresStatementCache.statements(sql) { try run(statement) }
  }

  private func query(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
    var bindings = PostgresBindings(capacity: arguments.values.count)
    for value in arguments.values {
      switch value {
      case .null: bindings.appendNull()
      case .integer(let number): bindings.append(number)
      case .real(let number): bindings.append(number)
      case .text(let text): bindings.append(text)
      case .blob(let data): bindings.append(ByteBuffer(bytes: data))
      // Milliseconds, as SQLite keeps them, so both databases compare the same values.
      case .date(let date):
        bindings.append(SQLDateText.date(milliseconds: SQLDateText.milliseconds(date)))
      }
    }
    let text = statements.sql(sql)
    do {
      return try connection.query(PostgresQuery(unsafeSQL: text, binds: bindings), logger: logger).wait()
    } catch {
      throw Self.statementError(error, sql: sql)
    }
  }

  private static func statementError(_ error: any Error, sql: String) -> SQLDatabaseError {
    if let error = error as? PSQLError, let info = error.serverInfo {
      return .statement(sqlState: info[.sqlState], message: info[.message] ?? "\(error.code)", sql: sql)
    }
    return .statement(sqlState: nil, message: SQLDatabaseError.describe(error), sql: sql)
  }

  private static func row(_ row: PostgresRow) -> SQLRow {
    var columns: [String] = []
    var values: [SQLValue] = []
    columns.reserveCapacity(row.count)
    values.reserveCapacity(row.count)
    for cell in row {
      columns.append(cell.columnName)
      values.append(value(cell))
    }
    return SQLRow(columns: columns, values: values)
  }

  private static func value(_ cell: PostgresCell) -> SQLValue {
    guard cell.bytes != nil else { return .null }
    do {
      switch cell.dataType {
      case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
      case .float4, .float8: return .real(try cell.decode(Double.self))
      case .numeric:
        let number = try cell.decode(Decimal.self)
        let integer = NSDecimalNumber(decimal: number)
        return number == Decimal(integer.int64Value) ? .integer(integer.int64Value) : .real(integer.doubleValue)
      case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
      case .bytea: return .blob(Data(buffer: try cell.decode(ByteBuffer.self)))
      case .timestamptz, .timestamp, .date:
        let stored = try cell.decode(Date.self)
        return .date(SQLDateText.date(milliseconds: Int64((stored.timeIntervalSince1970 * 1000).rounded())))
      default: return .text(try cell.decode(String.self))
      }
    } catch {
      return .text(String(buffer: cell.bytes ?? ByteBuffer()))
    }
  }
}
