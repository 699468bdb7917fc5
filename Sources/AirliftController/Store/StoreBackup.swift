import Foundation

/// Why a backup or a restore was refused or failed.
public enum StoreBackupError: Error, CustomStringConvertible, Sendable {
  case exists(String)
  case missing(String)
  case damaged(path: String, report: String)
  case toolMissing(String)
  case toolFailed(tool: String, status: Int32, output: String)
  case targetNotEmpty(String, what: String)
  case kindMismatch(file: String, location: String)

  public var description: String {
    switch self {
    case .exists(let path): return "\(path) exists already; give a new file (a backup never overwrites one)"
    case .missing(let path): return "no backup at \(path)"
    case .damaged(let path, let report): return "the copy at \(path) failed SQLite's integrity check: \(report)"
    case .toolMissing(let tool):
      return "\(tool) is not installed; scripts/setup --postgres installs PostgreSQL's client tools"
    case .toolFailed(let tool, let status, let output):
      return "\(tool) exited with \(status): \(output.suffix(600))"
    case .targetNotEmpty(let location, let what):
      return
        "\(location) is not empty (\(what)); restore into an empty store, or give --replace (stop the controller first)"
    case .kindMismatch(let file, let location):
      return
        "\(file) is not a backup of the kind \(location) takes (a SQLite file for sqlite:, pg_dump's custom format for postgres://)"
    }
  }
}

/// Backups of the controller's store and their restore: SQLite's online backup API into a new file, or
/// PostgreSQL's `pg_dump` custom format. A backup may run beside a working controller; a restore wants it stopped.
public enum StoreBackup {
  /// Writes a backup of the store at `location` to `file`, which must not exist.
  public static func backup(location: String, to file: String) async throws {
    guard !FileManager.default.fileExists(atPath: file) else { throw StoreBackupError.exists(file) }
    if let path = sqlitePath(location) {
      guard FileManager.default.fileExists(atPath: path) else { throw StoreBackupError.missing(path) }
      do {
        try SQLiteDatabase(path: path).backup(to: file)
      } catch {
        try? FileManager.default.removeItem(atPath: file)
        throw error
      }
      return
    }
    let (url, password) = try postgres(location)
    try await run(
      "pg_dump", ["--format=custom", "--no-owner", "--no-privileges", "--file=\(file)", "--dbname=\(url)"],
      password: password)
  }

  /// Restores `file` into the store at `location`: an empty one (a SQLite path with no file, a PostgreSQL
  /// database without tables) unless `replace`. Then opens it, which applies the migrations a backup from an
  /// older release lacks, and returns each table's row count.
  public static func restore(from file: String, to location: String, replace: Bool) async throws -> [(String, Int)] {
    guard FileManager.default.fileExists(atPath: file) else { throw StoreBackupError.missing(file) }
    let isSQLite = (try? String(contentsOfFile: file, encoding: .isoLatin1).hasPrefix("SQLite format 3")) ?? false
    if let path = sqlitePath(location) {
      guard isSQLite else { throw StoreBackupError.kindMismatch(file: file, location: location) }
      if FileManager.default.fileExists(atPath: path), !replace {
        throw StoreBackupError.targetNotEmpty(location, what: "the file exists")
      }
      try SQLiteDatabase(path: path).restore(from: file)
    } else {
      guard !isSQLite else { throw StoreBackupError.kindMismatch(file: file, location: location) }
      let (url, password) = try postgres(location)
      if !replace {
        let database = try PostgreSQLDatabase(url: location, maxConnections: 1)
        let tables = try await database.read { db in
          try Int.fetchOne(
            db, sql: "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") ?? 0
        }
        guard tables == 0 else { throw StoreBackupError.targetNotEmpty(location, what: "\(tables) tables") }
      }
      try await run(
        "pg_restore",
        (replace ? ["--clean", "--if-exists"] : []) + ["--no-owner", "--no-privileges", "--dbname=\(url)", file],
        password: password)
    }
    let store = try ControllerStore(location: location)
    var counts: [(String, Int)] = []
    for table in StoreCopy.tables {
      counts.append(
        (table, try await store.db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }))
    }
    return counts
  }

  private static func sqlitePath(_ location: String) -> String? {
    location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : nil
  }

  /// The URL without its password (which goes in PGPASSWORD, not on a command line others can read).
  private static func postgres(_ location: String) throws -> (url: String, password: String?) {
    guard location.hasPrefix("postgres://") || location.hasPrefix("postgresql://"),
      var components = URLComponents(string: location)
    else { throw SQLDatabaseError.invalidLocation(location, reason: "not sqlite:PATH or postgres://…") }
    let password = components.password
    components.password = nil
    return (components.string ?? location, password)
  }

  /// Runs one of PostgreSQL's client tools with `arguments` (no shell), failing with its output.
  private static func run(_ tool: String, _ arguments: [String], password: String?) async throws {
    let executable = try locate(tool)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    if let password { environment["PGPASSWORD"] = password }
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = try await Task.detached { try output.fileHandleForReading.readToEnd() ?? Data() }.value
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw StoreBackupError.toolFailed(
        tool: tool, status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
  }

  /// The newest installed PostgreSQL's tool, else one on the PATH.
  private static func locate(_ tool: String) throws -> String {
    let versions =
      ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init)
      .sorted(by: >)
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
    let candidates = versions.map { "/usr/lib/postgresql/\($0)/bin/\(tool)" } + path.map { "\($0)/\(tool)" }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      throw StoreBackupError.toolMissing(tool)
    }
    return found
  }
}
