import AirliftCrypto
import Foundation

/// `airlift store migrate`: copies every table of a SQLite store into an
/// empty one (PostgreSQL, usually), then proves the copy by counting and
/// digesting both sides. Each batch is read in its own transaction, so the
/// controller should be stopped while it runs (what it wrote meanwhile would
/// show up as a digest mismatch, not pass silently).
public enum StoreCopy {
  /// One table's outcome.
  public struct TableReport: Codable, Sendable, Equatable {
    public var table: String
    public var sourceRows: Int
    public var targetRows: Int
    /// SHA-256 over the sorted digests of the rows, values in a form both databases share.
    public var sourceDigest: String
    public var targetDigest: String
    public var matches: Bool { sourceRows == targetRows && sourceDigest == targetDigest }
  }

  /// Tables in an order that satisfies every foreign key; `readiness` is not data.
  static let tables = [
    "repository", "blob", "release", "release_asset", "release_metadata", "tag", "device", "device_group",
    "group_member",
    "deployment", "device_deployment", "status_event", "device_command", "fleet_setting", "channel",
    "device_certificate", "revocation", "operator_token", "enrollment_token", "enrollment", "audit", "ui_session",
    "presence_event", "flow", "property", "device_event",
  ]

  /// Rows every migrated database starts with (the default repository): replaced by the source's.
  static let seeded: Set<String> = ["repository"]

  /// Tables whose rows the destination numbers itself (identity columns): their counters are moved past the copy.
  static let counters = [
    ("release", "id"), ("status_event", "id"), ("audit", "id"), ("presence_event", "id"), ("deployment", "rowid"),
    ("device_event", "id"),
  ]

  static let batch = 200

  /// Copies `source` into `target` (both opened and migrated to the current schema); throws when the
  /// target already holds data. `progress` hears each table as it is copied.
  public static func run(
    from sourceLocation: String, to targetLocation: String,
    progress: @Sendable (String, Int) -> Void = { _, _ in }
  ) async throws -> [TableReport] {
    let source = try ControllerStore(location: sourceLocation).db
    guard source.dialect == .sqlite else { throw StoreCopyError.sourceNotSQLite(sourceLocation) }
    let target = try ControllerStore(location: targetLocation).db
    for table in tables where !seeded.contains(table) {
      let rows = try await target.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
      guard rows == 0 else { throw StoreCopyError.targetNotEmpty(targetLocation, table: table, rows: rows) }
    }
    try await target.write { db in
      for table in seeded { try db.execute(sql: "DELETE FROM \(table)") }
    }
    for table in tables {
      let types = try await columnTypes(table, in: target)
      var copied = 0
      var after: Int64 = Int64.min
      while true {
        let from = after
        let rows = try await source.read { db in
          try SQLRow.fetchAll(
            db, sql: "SELECT rowid AS copy_key, * FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT \(batch)",
            arguments: [from])
        }
        guard let last = rows.last else { break }
        after = last["copy_key"]
        try await insert(rows, into: table, types: types, target: target)
        copied += rows.count
      }
      progress(table, copied)
    }
    if target.dialect == .postgres {
      try await target.write { db in
        for (table, column) in counters {
          try db.execute(
            sql: """
              SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), COALESCE(MAX(\(column)), 0) + 1, false)
              FROM \(table)
              """)
        }
      }
    }
    var reports: [TableReport] = []
    for table in tables {
      let (sourceRows, sourceDigest) = try await digest(table, in: source)
      let (targetRows, targetDigest) = try await digest(table, in: target)
      reports.append(
        TableReport(
          table: table, sourceRows: sourceRows, targetRows: targetRows, sourceDigest: sourceDigest,
          targetDigest: targetDigest))
    }
    return reports
  }

  /// Column name → type name of a table in the target (values are converted to what the column holds).
  private static func columnTypes(_ table: String, in database: any SQLDatabase) async throws -> [String: String] {
    try await database.read { db in
      switch db.dialect {
      case .postgres:
        return Dictionary(
          try SQLRow.fetchAll(
            db, sql: "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            arguments: [table]
          ).map { ($0["column_name"] as String, $0["data_type"] as String) }, uniquingKeysWith: { first, _ in first })
      case .sqlite:
        return Dictionary(
          try SQLRow.fetchAll(db, sql: "SELECT name, type FROM pragma_table_info(?)", arguments: [table]).map {
            ($0["name"] as String, ($0["type"] as String).lowercased())
          }, uniquingKeysWith: { first, _ in first })
      }
    }
  }

  private static func insert(
    _ rows: [SQLRow], into table: String, types: [String: String], target: any SQLDatabase
  ) async throws {
    let columns = rows[0].columns.filter { $0 != "copy_key" && types[$0] != nil }
    // SQLite's implicit rowid of a deployment is its creation order; PostgreSQL keeps it in a column.
    let keepsOrder = table == "deployment" && target.dialect == .postgres
    let names = columns + (keepsOrder ? ["rowid"] : [])
    let placeholders = "(" + names.map { _ in "?" }.joined(separator: ", ") + ")"
    let overriding = keepsOrder ? " OVERRIDING SYSTEM VALUE" : ""
    var values: [SQLValue] = []
    for row in rows {
      for column in columns { values.append(convert(row.value(column), to: types[column] ?? "")) }
      if keepsOrder { values.append(row.value("copy_key")) }
    }
    let sql =
      "INSERT INTO \(table) (\(names.map { "\"\($0)\"" }.joined(separator: ", ")))\(overriding) VALUES "
      + Array(repeating: placeholders, count: rows.count).joined(separator: ", ")
    let arguments = SQLArguments(values: values)
    try await target.write { db in try db.execute(sql: sql, arguments: arguments) }
  }

  /// A value as the target column holds it: SQLite's date text as a date, numbers and text as they are.
  static func convert(_ value: SQLValue, to type: String) -> SQLValue {
    switch (value, type) {
    case (.text(let text), let type) where type.hasPrefix("timestamp"):
      return SQLDateText.parse(text).map(SQLValue.date) ?? value
    case (.date(let date), let type) where !type.hasPrefix("timestamp"):
      return .text(SQLDateText.format(date))
    case (.text(let text), "bytea"):
      return .blob(Data(text.utf8))
    default:
      return value
    }
  }

  /// Row count and a digest that does not depend on row order or on how each database spells a value.
  static func digest(_ table: String, in database: any SQLDatabase) async throws -> (Int, String) {
    let types = try await columnTypes(table, in: database)
    let columns = types.keys.filter { $0 != "rowid" }.sorted()
    let rows = try await database.read { db in
      try SQLRow.fetchAll(db, sql: "SELECT \(columns.map { "\"\($0)\"" }.joined(separator: ", ")) FROM \(table)")
    }
    var rowDigests: [String] = []
    rowDigests.reserveCapacity(rows.count)
    for row in rows {
      let text = columns.map { canonical(row.value($0), type: types[$0] ?? "") }.joined(separator: "\u{1F}")
      rowDigests.append(SHA256Hasher.hex(of: Array(text.utf8)))
    }
    return (rows.count, SHA256Hasher.hex(of: Array(rowDigests.sorted().joined().utf8)))
  }

  private static func canonical(_ value: SQLValue, type: String) -> String {
    switch value {
    case .null: return "∅"
    case .integer(let number): return "i\(number)"
    case .real(let number):
      return number == number.rounded() && abs(number) < 1e15 ? "i\(Int64(number))" : "r\(number)"
    case .text(let text):
      if type.hasPrefix("timestamp") || type == "datetime", let date = SQLDateText.parse(text) {
        return "t\(SQLDateText.milliseconds(date))"
      }
      return "s\(text)"
    case .blob(let data): return "b" + Hex.encode(data)
    case .date(let date): return "t\(SQLDateText.milliseconds(date))"
    }
  }
}

/// Why a store copy stopped.
public enum StoreCopyError: Error, CustomStringConvertible {
  case targetNotEmpty(String, table: String, rows: Int)
  case sourceNotSQLite(String)

  public var description: String {
    switch self {
    case .targetNotEmpty(let location, let table, let rows):
      return "the target \(location) already holds data (\(rows) rows in \(table)); migrate into an empty database"
    case .sourceNotSQLite(let location):
      return "the source \(location) is not a SQLite store: --from takes sqlite:PATH (copy PostgreSQL with pg_dump)"
    }
  }
}
