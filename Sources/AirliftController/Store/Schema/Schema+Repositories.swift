/// v33: repositories. A package's repository is the part of its name before the `/`; packages named without
/// one (all that existed before) are the `default` repository's, so their names, tags, signed manifests and
/// what devices report installed stay as they were. Tokens and devices may be limited to some repositories;
/// a version is a draft (assets may still be added) until it is first deployed or tagged, or sealed by hand.
extension SQLiteSchema {
  static let repositorySteps: [SQLMigration] = [
    SQLMigration(
      "v33-repositories",
      """
      CREATE TABLE repository (
        name TEXT PRIMARY KEY NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created_at DATETIME NOT NULL,
        created_by TEXT
      );
      INSERT INTO repository (name, description, created_at)
        VALUES ('default', 'packages named without a repository', CURRENT_TIMESTAMP);
      ALTER TABLE operator_token ADD COLUMN repositories TEXT;
      ALTER TABLE device ADD COLUMN repositories TEXT;
      ALTER TABLE release ADD COLUMN sealed_at DATETIME;
      UPDATE release SET sealed_at = created_at
        WHERE id IN (SELECT release_id FROM deployment)
          OR EXISTS (SELECT 1 FROM tag WHERE tag.package = release.package AND tag.version = release.version)
      """)
  ]
}

extension PostgresSchema {
  static let repositorySteps: [SQLMigration] = [
    SQLMigration(
      "v33-repositories",
      """
      CREATE TABLE repository (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        created_at TIMESTAMPTZ NOT NULL,
        created_by TEXT
      );
      INSERT INTO repository (name, description, created_at)
        VALUES ('default', 'packages named without a repository', now());
      ALTER TABLE operator_token ADD COLUMN repositories TEXT;
      ALTER TABLE device ADD COLUMN repositories TEXT;
      ALTER TABLE release ADD COLUMN sealed_at TIMESTAMPTZ;
      UPDATE release SET sealed_at = created_at
        WHERE id IN (SELECT release_id FROM deployment)
          OR EXISTS (SELECT 1 FROM tag WHERE tag.package = release.package AND tag.version = release.version)
      """)
  ]
}
