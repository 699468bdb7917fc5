/// v35: when a finished deployment's step-by-step reports were dropped (its devices' final states stay).
extension SQLiteSchema {
  static let retentionSteps: [SQLMigration] = [
    SQLMigration("v35-status-retention", "ALTER TABLE deployment ADD COLUMN events_pruned_at DATETIME")
  ]
}

extension PostgresSchema {
  static let retentionSteps: [SQLMigration] = [
    SQLMigration("v35-status-retention", "ALTER TABLE deployment ADD COLUMN events_pruned_at TIMESTAMPTZ")
  ]
}
