/// v34: when each device certificate the controller has seen or issued expires, so `device list`, `/metrics` and
/// the dashboard show the fleet's certificates running out before they do.
extension SQLiteSchema {
  static let certificateSteps: [SQLMigration] = [
    SQLMigration("v34-certificate-expiry", "ALTER TABLE device_certificate ADD COLUMN not_after DATETIME")
  ]
}

extension PostgresSchema {
  static let certificateSteps: [SQLMigration] = [
    SQLMigration("v34-certificate-expiry", "ALTER TABLE device_certificate ADD COLUMN not_after TIMESTAMPTZ")
  ]
}
