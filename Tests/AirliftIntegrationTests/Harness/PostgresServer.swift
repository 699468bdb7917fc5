import Foundation
import Synchronization

/// Debian's PostgreSQL for the tests: `initdb` in a temporary folder, the
/// server on a free loopback port, trust authentication for the `airlift`
/// role, no fsync (the tests need its SQL, not its durability). PostgreSQL
/// refuses to run as root, so as root it runs as the `postgres` user that
/// Debian's package creates (through `setpriv`, which execs: no shell).
final class PostgresServer: @unchecked Sendable {
  let port: Int
  let folder: String
  private let process: ChildProcess

  private init(port: Int, folder: String, process: ChildProcess) {
    self.port = port
    self.folder = folder
    self.process = process
  }

  /// One server for the whole test run, started by the first test that asks
  /// (the others wait for it) and killed when the test process exits.
  static func shared() async throws -> PostgresServer {
    let starting = sharedStart.withLock { task in
      if let task { return task }
      let started = Task {
        let server = try await start(in: NSTemporaryDirectory() + "airlift-postgres-" + UUID().uuidString.prefix(8))
        sharedPostgresPID.store(server.process.processIdentifier, ordering: .relaxed)
        sharedPostgresFolder.withLock { $0 = server.folder }
        // The server and its data (about 2 GB after a full run) go with the test process: a machine that runs
        // the suite again and again must not fill its disk with old clusters.
        atexit {
          let pid = sharedPostgresPID.load(ordering: .relaxed)
          kill(pid, SIGKILL)
          var status: Int32 = 0
          waitpid(pid, &status, 0)
          if ProcessInfo.processInfo.environment["AIRLIFT_KEEP_TEST_FILES"] == nil,
            let folder = sharedPostgresFolder.withLock({ $0 })
          {
            try? FileManager.default.removeItem(atPath: folder)
          }
        }
        return server
      }
      task = started
      return started
    }
    return try await starting.value
  }

  private static let sharedStart = Mutex<Task<PostgresServer, any Error>?>(nil)

  /// A new, empty database on this server; its `postgres://` URL.
  func createDatabase(prefix: String = "airlift") async throws -> String {
    let name = "\(prefix)_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
    let (status, output) = try await Fleet.execute(
      try Self.binary("psql"),
      ["-h", "127.0.0.1", "-p", "\(port)", "-U", "airlift", "-d", "postgres", "-c", "CREATE DATABASE \(name)"])
    guard status == 0 else { throw HarnessError.setup("CREATE DATABASE \(name) failed: \(output)") }
    return url(database: name)
  }

  func url(database: String) -> String { "postgres://airlift@127.0.0.1:\(port)/\(database)" }

  /// Runs one SQL statement with psql; its output, unaligned, tuples only.
  func psql(_ database: String, _ sql: String) async throws -> String {
    let (status, output) = try await Fleet.execute(
      try Self.binary("psql"),
      ["-h", "127.0.0.1", "-p", "\(port)", "-U", "airlift", "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
    guard status == 0 else { throw HarnessError.setup("psql \(sql) failed: \(output)") }
    return output.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static func start(in folder: String) async throws -> PostgresServer {
    let data = "\(folder)/data"
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
    let asRoot = getuid() == 0
    if asRoot {
      guard let owner = getpwnam("postgres") else {
        throw HarnessError.setup("running as root needs the 'postgres' user (apt-get install postgresql)")
      }
      chown(folder, owner.pointee.pw_uid, owner.pointee.pw_gid)
      chown(data, owner.pointee.pw_uid, owner.pointee.pw_gid)
    }
    func command(_ name: String, _ arguments: [String]) throws -> (String, [String]) {
      let binary = try Self.binary(name)
      guard asRoot else { return (binary, arguments) }
      return ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--clear-groups", "--", binary] + arguments)
    }
    let (initdb, initArguments) = try command(
      "initdb", ["-D", data, "-U", "airlift", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"])
    let (status, output) = try await Fleet.execute(initdb, initArguments)
    guard status == 0 else { throw HarnessError.setup("initdb failed: \(output)") }
    let port = try Loopback.freePort()
    let (postgres, arguments) = try command(
      "postgres",
      [
        "-D", data, "-p", "\(port)", "-k", data, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
        "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=2000", "-c",
        "shared_buffers=64MB",
      ])
    let process = try Fleet.startBackground(postgres, arguments, log: "\(folder)/postgres.log")
    let server = PostgresServer(port: port, folder: folder, process: process)
    do {
      try await eventually("PostgreSQL on port \(port)", within: 60) {
        guard Loopback.isListening(port) else { return false }
        return (try? await server.psql("postgres", "SELECT 1")) == "1"
      }
    } catch {
      server.stop()
      throw error
    }
    return server
  }

  /// Kills the server (its backends follow when they see the postmaster gone).
  func stop() {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }

  /// A PostgreSQL program: Debian keeps them in /usr/lib/postgresql/VERSION/bin, off the PATH.
  static func binary(_ name: String) throws -> String {
    let versions =
      ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
      .compactMap(Int.init).sorted(by: >)
    let candidates =
      versions.map { "/usr/lib/postgresql/\($0)/bin/\(name)" } + ["/usr/local/bin/\(name)", "/usr/bin/\(name)"]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      throw HarnessError.setup("\(name) not found: PostgreSQL is not installed (scripts/setup --postgres)")
    }
    return found
  }
}

private let sharedPostgresPID = Atomic<Int32>(0)
private let sharedPostgresFolder = Mutex<String?>(nil)
