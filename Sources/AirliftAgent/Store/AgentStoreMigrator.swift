import GRDB

/// The agent store's schema steps, applied in one immediate transaction that
/// first reads which steps are done. GRDB's `DatabaseMigrator` reads that
/// before its transactions, so two processes opening a new file at once
/// (the agent starting while `airlift-agent status` runs) both ran the first
/// step and one exited with "table already exists". Step names are kept in
/// GRDB's `grdb_migrations` table, so files migrated before read the same.
struct AgentStoreMigrator {
  private var steps: [(id: String, apply: (Database) throws -> Void)] = []

  mutating func registerMigration(_ id: String, _ apply: @escaping (Database) throws -> Void) {
    steps.append((id, apply))
  }

  func migrate(_ pool: DatabasePool) throws {
    try pool.writeWithoutTransaction { db in
      try db.inTransaction(.immediate) {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
        let applied = Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
        for step in steps where !applied.contains(step.id) {
          try step.apply(db)
          try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [step.id])
        }
        return .commit
      }
    }
  }
}
