import AirliftController
import ArgumentParser
import Foundation

/// The controller's database, worked on directly (not through a controller).
struct Store: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The controller's database: move an installation from SQLite to PostgreSQL.",
    subcommands: [Migrate.self])

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
