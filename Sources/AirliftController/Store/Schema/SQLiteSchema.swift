/// The SQLite schema, one step per release since the first; the ids are the
/// GRDB migrator's, so databases created before the store seam carry on.
enum SQLiteSchema {
  static let migrations: [SQLMigration] = steps + repositorySteps + certificateSteps + retentionSteps

  /// The steps up to v32, in one list as they were written.
  static let steps: [SQLMigration] = [
    SQLMigration(
      "v1",
      """
      CREATE TABLE blob (
        sha256 TEXT PRIMARY KEY NOT NULL,
        size INTEGER NOT NULL,
        created_at DATETIME NOT NULL
      );
      CREATE TABLE release (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        package TEXT NOT NULL,
        version TEXT NOT NULL,
        handler TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        UNIQUE (package, version)
      );
      CREATE TABLE release_asset (
        release_id INTEGER NOT NULL REFERENCES release(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL REFERENCES blob(sha256),
        PRIMARY KEY (release_id, name)
      );
      CREATE TABLE device (
        id TEXT PRIMARY KEY NOT NULL,
        online BOOLEAN NOT NULL DEFAULT 0,
        attributes TEXT NOT NULL DEFAULT '{}',
        installed TEXT NOT NULL DEFAULT '{}',
        agent_version TEXT,
        first_seen DATETIME NOT NULL,
        last_seen DATETIME NOT NULL
      );
      CREATE TABLE deployment (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT,
        release_id INTEGER NOT NULL REFERENCES release(id),
        status TEXT NOT NULL,
        parameters TEXT NOT NULL DEFAULT '{}',
        all_devices BOOLEAN NOT NULL DEFAULT 0,
        created_at DATETIME NOT NULL
      );
      CREATE TABLE device_deployment (
        deployment_id TEXT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        state TEXT NOT NULL,
        percent INTEGER,
        error TEXT,
        updated_at DATETIME NOT NULL,
        PRIMARY KEY (deployment_id, device_id)
      );
      CREATE INDEX device_deployment_by_device ON device_deployment(device_id, updated_at);
      CREATE TABLE status_event (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        state TEXT NOT NULL,
        bytes INTEGER,
        total INTEGER,
        percent INTEGER,
        attempt INTEGER,
        error TEXT,
        device_time DATETIME,
        received_at DATETIME NOT NULL
      );
      CREATE INDEX status_event_by_deployment ON status_event(deployment_id, device_id, id);
      """),
    SQLMigration(
      "v2-repository-inventory-lifecycle",
      """
      ALTER TABLE release ADD COLUMN parameters TEXT NOT NULL DEFAULT '{}';
      CREATE TABLE tag (
        package TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        locked BOOLEAN NOT NULL,
        updated_at DATETIME NOT NULL,
        PRIMARY KEY (package, name)
      );
      CREATE TABLE device_group (
        name TEXT PRIMARY KEY NOT NULL,
        created_at DATETIME NOT NULL
      );
      CREATE TABLE group_member (
        group_name TEXT NOT NULL REFERENCES device_group(name) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        PRIMARY KEY (group_name, device_id)
      );
      CREATE INDEX group_member_by_device ON group_member(device_id);
      ALTER TABLE deployment ADD COLUMN tag TEXT;
      ALTER TABLE deployment ADD COLUMN target_group TEXT;
      ALTER TABLE deployment ADD COLUMN max_devices INTEGER;
      ALTER TABLE deployment ADD COLUMN device_timeout INTEGER;
      ALTER TABLE deployment ADD COLUMN start_at DATETIME;
      ALTER TABLE deployment ADD COLUMN reason TEXT;
      ALTER TABLE deployment ADD COLUMN updated_at DATETIME;
      ALTER TABLE device_deployment ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE device_deployment ADD COLUMN started_at DATETIME;
      CREATE INDEX deployment_by_status ON deployment(status);
      """),
    SQLMigration(
      "v3-event-stage",
      "ALTER TABLE status_event ADD COLUMN stage TEXT"),
    SQLMigration(
      "v4-device-commands",
      """
      CREATE TABLE device_command (
        id TEXT PRIMARY KEY NOT NULL,
        device_id TEXT NOT NULL REFERENCES device(id),
        action TEXT NOT NULL,
        package TEXT NOT NULL,
        reason TEXT,
        status TEXT NOT NULL,
        message TEXT,
        created_at DATETIME NOT NULL,
        finished_at DATETIME
      );
      CREATE INDEX device_command_by_device ON device_command(device_id, created_at);
      """),
    // Each report of a device is stored once, by its sequence number.
    SQLMigration(
      "v5-status-seq",
      """
      ALTER TABLE status_event ADD COLUMN seq INTEGER;
      CREATE UNIQUE INDEX status_event_by_seq ON status_event(device_id, seq) WHERE seq IS NOT NULL;
      """),
    // A plan per deployment, the phase it is in; per device its place in the order and when it was started.
    SQLMigration(
      "v6-rollouts",
      """
      ALTER TABLE deployment ADD COLUMN rollout TEXT;
      ALTER TABLE deployment ADD COLUMN phase INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE deployment ADD COLUMN phase_ended_at DOUBLE;
      ALTER TABLE deployment ADD COLUMN promoted BOOLEAN NOT NULL DEFAULT 0;
      ALTER TABLE deployment ADD COLUMN rollout_note TEXT;
      ALTER TABLE device_deployment ADD COLUMN position INTEGER;
      ALTER TABLE device_deployment ADD COLUMN released_at DATETIME;
      UPDATE device_deployment SET released_at = updated_at;
      """),
    SQLMigration(
      "v7-freeze-approval",
      """
      CREATE TABLE fleet_setting (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, updated_at DATETIME NOT NULL);
      ALTER TABLE deployment ADD COLUMN paused_by_freeze BOOLEAN NOT NULL DEFAULT 0;
      ALTER TABLE deployment ADD COLUMN created_by TEXT;
      ALTER TABLE deployment ADD COLUMN needs_approval BOOLEAN NOT NULL DEFAULT 0;
      ALTER TABLE deployment ADD COLUMN approved_by TEXT;
      ALTER TABLE deployment ADD COLUMN download_timeout INTEGER;
      ALTER TABLE deployment ADD COLUMN install_timeout INTEGER;
      ALTER TABLE device_group ADD COLUMN expression TEXT;
      """),
    // The version each device ran when it was started, so an abort can put it back.
    SQLMigration(
      "v8-rollback-on-abort",
      """
      ALTER TABLE device_deployment ADD COLUMN from_version TEXT;
      ALTER TABLE deployment ADD COLUMN linked_to TEXT;
      ALTER TABLE deployment ADD COLUMN rolled_back_by TEXT;
      """),
    SQLMigration(
      "v9-channels",
      """
      ALTER TABLE device ADD COLUMN follows TEXT;
      ALTER TABLE deployment ADD COLUMN target_channel TEXT;
      CREATE TABLE channel (
        package TEXT NOT NULL,
        tag TEXT NOT NULL,
        rollout TEXT,
        updated_at DATETIME NOT NULL,
        PRIMARY KEY (package, tag)
      );
      """),
    SQLMigration(
      "v10-group-windows",
      """
      ALTER TABLE device_group ADD COLUMN window TEXT;
      ALTER TABLE device_group ADD COLUMN time_zone TEXT;
      """),
    SQLMigration(
      "v11-release-policies",
      """
      ALTER TABLE release ADD COLUMN policy TEXT;
      ALTER TABLE deployment ADD COLUMN target_policy BOOLEAN NOT NULL DEFAULT 0;
      """),
    SQLMigration(
      "v12-device-retries",
      """
      ALTER TABLE deployment ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE device_deployment ADD COLUMN round INTEGER NOT NULL DEFAULT 1;
      """),
    SQLMigration(
      "v13-release-signatures",
      """
      ALTER TABLE release ADD COLUMN signed_manifest TEXT;
      ALTER TABLE release ADD COLUMN signed_at DATETIME;
      ALTER TABLE release ADD COLUMN signed_by TEXT;
      ALTER TABLE deployment ADD COLUMN downgrade BOOLEAN NOT NULL DEFAULT 0;
      """),
    SQLMigration(
      "v14-revocations",
      """
      CREATE TABLE device_certificate (
        serial TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        first_seen DATETIME NOT NULL
      );
      CREATE TABLE revocation (
        serial TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        revoked_at DATETIME NOT NULL,
        reason TEXT,
        revoked_by TEXT
      );
      ALTER TABLE device ADD COLUMN revoked_at DATETIME;
      """),
    SQLMigration(
      "v15-tokens-and-audit",
      """
      CREATE TABLE operator_token (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        created_by TEXT,
        last_used_at DATETIME,
        revoked_at DATETIME
      );
      CREATE TABLE enrollment_token (
        id TEXT PRIMARY KEY,
        secret_sha256 TEXT NOT NULL,
        device_id TEXT,
        uses_left INTEGER NOT NULL,
        expires_at DATETIME NOT NULL,
        created_at DATETIME NOT NULL,
        created_by TEXT
      );
      CREATE TABLE enrollment (
        device_id TEXT PRIMARY KEY,
        csr TEXT NOT NULL,
        status TEXT NOT NULL,
        certificate TEXT,
        serial TEXT,
        token_id TEXT NOT NULL,
        requested_at DATETIME NOT NULL,
        decided_at DATETIME,
        decided_by TEXT
      );
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at DATETIME NOT NULL,
        actor TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL
      );
      """),
    SQLMigration(
      "v16-readiness",
      """
      CREATE TABLE readiness (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at DATETIME NOT NULL);
      """),
    SQLMigration(
      "v17-dashboard",
      """
      CREATE TABLE ui_session (
        secret_sha256 TEXT PRIMARY KEY NOT NULL,
        token_id TEXT NOT NULL REFERENCES operator_token(id) ON DELETE CASCADE,
        created_at DATETIME NOT NULL,
        expires_at DATETIME NOT NULL
      );
      CREATE TABLE presence_event (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        online BOOLEAN NOT NULL,
        at DATETIME NOT NULL
      );
      CREATE INDEX presence_event_by_device ON presence_event(device_id, id);
      """),
    // A compose release's apps (JSON), which its signed manifest must repeat.
    SQLMigration(
      "v18-release-apps",
      "ALTER TABLE release ADD COLUMN apps TEXT"),
    // A compose device's apps with their state, from its last check-in (JSON).
    SQLMigration(
      "v19-device-apps",
      "ALTER TABLE device ADD COLUMN apps TEXT"),
    // Each version of a flow is kept: deployments name the one they ran. Deleting hides every version.
    SQLMigration(
      "v20-flows",
      """
      CREATE TABLE flow (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        definition TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        created_by TEXT,
        deleted_at DATETIME,
        PRIMARY KEY (name, version)
      );
      ALTER TABLE deployment ADD COLUMN flow_name TEXT;
      ALTER TABLE deployment ADD COLUMN flow_version INTEGER;
      """),
    // Named JSON documents of a version (SBOM, build information); immutable once attached, like the version.
    SQLMigration(
      "v21-release-metadata",
      """
      CREATE TABLE release_metadata (
        release_id INTEGER NOT NULL REFERENCES release(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        content BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        created_by TEXT,
        PRIMARY KEY (release_id, name)
      )
      """),
    // How each device talks to us; a polling device's promised next check-in (it is offline once overdue);
    // when a polling device was handed a deployment (its device timeout counts from then).
    SQLMigration(
      "v22-polling-devices",
      """
      ALTER TABLE device ADD COLUMN transport TEXT;
      ALTER TABLE device ADD COLUMN next_check_in DATETIME;
      ALTER TABLE device_deployment ADD COLUMN delivered_at DATETIME;
      """),
    // What the device's agent says keeps it from working (a full data disk), from its last check-in.
    SQLMigration("v23-device-problems", "ALTER TABLE device ADD COLUMN problems TEXT"),
    // The device's number of the report that set the state: a newer report moves it, an older one is history.
    SQLMigration("v24-state-seq", "ALTER TABLE device_deployment ADD COLUMN state_seq INTEGER"),
    // An asset's chunk index (itself a blob): what a device needs for a delta update.
    SQLMigration(
      "v25-chunk-index",
      """
      ALTER TABLE blob ADD COLUMN index_sha256 TEXT;
      ALTER TABLE blob ADD COLUMN index_size INTEGER;
      ALTER TABLE blob ADD COLUMN index_chunks INTEGER
      """),
    // What each report said the download cost, and the latest of it per device and deployment: the saving.
    SQLMigration(
      "v26-transfer-bytes",
      """
      ALTER TABLE status_event ADD COLUMN fetched INTEGER;
      ALTER TABLE status_event ADD COLUMN reused INTEGER;
      ALTER TABLE device_deployment ADD COLUMN bytes_total INTEGER;
      ALTER TABLE device_deployment ADD COLUMN bytes_fetched INTEGER;
      ALTER TABLE device_deployment ADD COLUMN bytes_reused INTEGER
      """),
    // An asset's chunk pack (each chunk compressed on its own, a blob too): what deltas fetch when it compresses.
    SQLMigration(
      "v27-chunk-pack",
      """
      ALTER TABLE blob ADD COLUMN pack_sha256 TEXT;
      ALTER TABLE blob ADD COLUMN pack_size INTEGER
      """),
    // The hardware a release is for and a device says it is (RAUC's compatible, Mender's device_type).
    SQLMigration(
      "v28-compatible",
      """
      ALTER TABLE release ADD COLUMN compatible TEXT;
      ALTER TABLE device ADD COLUMN compatible TEXT
      """),
    // A multi-step update's steps (JSON), resolved with the run's values; NULL for a one-handler update.
    SQLMigration("v29-deployment-steps", "ALTER TABLE deployment ADD COLUMN steps TEXT"),
    // Device properties (desired configuration) of a device or a group, and the version each device applied.
    SQLMigration(
      "v30-properties",
      """
      CREATE TABLE property (
        scope TEXT NOT NULL,
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at DATETIME NOT NULL,
        PRIMARY KEY (scope, owner, key)
      );
      ALTER TABLE device ADD COLUMN config_version TEXT;
      ALTER TABLE device ADD COLUMN config_reported_at DATETIME
      """),
    // Telemetry events programs on a device sent through the agent, kept up to the retention limits.
    SQLMigration(
      "v31-device-events",
      """
      CREATE TABLE device_event (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        device_time DATETIME NOT NULL,
        received_at DATETIME NOT NULL,
        data TEXT NOT NULL
      );
      CREATE INDEX device_event_by_device ON device_event(device_id, id);
      CREATE INDEX device_event_by_kind ON device_event(device_id, kind, id);
      CREATE INDEX device_event_by_age ON device_event(received_at)
      """),
    // A device that has not answered its notice: how often the notice went out again, and when it goes next.
    SQLMigration(
      "v32-redelivery",
      """
      ALTER TABLE device_deployment ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE device_deployment ADD COLUMN next_delivery_at DATETIME
      """),
  ]
}
