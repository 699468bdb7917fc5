import AirliftController
import ArgumentParser
import Foundation

/// The controller's database, worked on directly (not through a controller).
struct Store: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The controller's database: back it up, restore it, move it from SQLite to PostgreSQL.",
    subcommands: [Backup.self, Restore.self, Migrate.self])

  struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a backup of the store to a new file; the controller may keep running.",
      discussion: """
        SQLite: the online backup API copies the database as it is at one moment into a new SQLite file, \
        then checks its integrity. PostgreSQL: pg_dump's custom format (restore with this command or pg_restore). \
        The password of a postgres:// location goes to pg_dump in its environment, never on its command line.
        """)
    @Option(help: "The store: sqlite:PATH (e.g. sqlite:DATA/controller.sqlite) or postgres://USER@HOST:PORT/DB.")
    var store: String
    @Option(help: "The backup file to write (it must not exist).") var out: String

    func run() async throws {
      let started = Date()
      try await StoreBackup.backup(location: store, to: out)
      let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
      print(
        "backed up \(store) to \(out) (\(Output.bytes(Int64(size)))) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
      )
    }
  }

  struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Restore a backup into a store; stop the controller first.",
      discussion: """
        The store must be empty (no SQLite file there yet, or a PostgreSQL database without tables) unless \
        --replace. After the restore the store is opened once, which applies the migrations a backup from an older \
        release lacks, and every table's rows are counted.
        """)
    @Option(help: "The store to restore into: sqlite:PATH or postgres://USER@HOST:PORT/DB.") var store: String
    @Option(name: .customLong("from"), help: "The backup file.") var file: String
    @Flag(help: "Overwrite a store that holds data.") var replace = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
      let counts = try await StoreBackup.restore(from: file, to: store, replace: replace)
      if json { return print(Output.json(Dictionary(uniqueKeysWithValues: counts))) }
      print(Output.table(["TABLE", "ROWS"], counts.map { [$0.0, "\($0.1)"] }))
      print("restored \(file) into \(store): \(counts.map(\.1).reduce(0, +)) rows in \(counts.count) tables")
    }
  }

  struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Copy a SQLite store into an empty PostgreSQL database and check the copy.",
      discussion: """
        Stop the controller first (or every table read after it wrote shows as a mismatch). The target gets the \
        current schema, then every table in batches; then each table is counted and digested on both sides (SHA-256 \
        over its rows, values written the same way for both databases, order ignored). Exits non-zero unless every \
        table matches. Then start the controller with --store (or "store" in its config) naming the target.
        """)

    @Option(help: "The SQLite store: sqlite:PATH (e.g. sqlite:DATA/controller.sqlite).") var from: String
    @Option(help: "The empty target: postgres://USER[:PASSWORD]@HOST[:PORT]/DB.") var to: String
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
      if case let path = String(from.dropFirst("sqlite:".count)), from.hasPrefix("sqlite:"),
        !FileManager.default.fileExists(atPath: path)
      {
        throw ValidationError("no SQLite store at \(path)")
      }
      let quiet = json
      let reports = try await StoreCopy.run(from: from, to: to) { table, rows in
        if !quiet { FileHandle.standardError.write(Data("copied \(table): \(rows) rows\n".utf8)) }
      }
      let mismatched = reports.filter { !$0.matches }
      if json {
        print(Output.json(reports))
      } else {
        print(
          Output.table(
            ["TABLE", "ROWS", "COPIED", "DIGEST", "CHECK"],
            reports.map {
              [
                $0.table, "\($0.sourceRows)", "\($0.targetRows)", String($0.sourceDigest.prefix(16)),
                $0.matches ? "ok" : "MISMATCH (target \($0.targetDigest.prefix(16)))",
              ]
            }))
      }
      guard mismatched.isEmpty else {
        throw ValidationError(
          "the copy differs in \(mismatched.map(\.table).joined(separator: ", ")); the source was left as it was")
      }
      if !json {
        let rows = reports.map(\.sourceRows).reduce(0, +)
        print("copied \(rows) rows in \(reports.count) tables; every count and digest matches")
      }
    }
  }
}
