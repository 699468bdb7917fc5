import Foundation
import Synchronization

/// A program the tests started, through posix_spawn rather than
/// Foundation's Process, whose `run()` crashed (a bad read in its memcpy,
/// over a list of the parent's open descriptors) once the test process
/// held some 1,300 descriptors, as it does with many fleets' sockets and
/// database connections. The child inherits no descriptor but its standard
/// ones (output to a file, input from /dev/null), and starts with no signal
/// blocked: the test process blocks some, and a child inheriting that mask
/// would never see a SIGTERM.
final class ChildProcess: @unchecked Sendable {
  let processIdentifier: pid_t
  /// The raw wait status once the child has been reaped.
  private let waitStatus = Mutex<Int32?>(nil)

  private init(processIdentifier: pid_t) {
    self.processIdentifier = processIdentifier
  }

  /// Starts `executable` with `arguments`; standard output and error are appended to the file `output`.
  static func spawn(_ executable: String, _ arguments: [String], output: String) throws -> ChildProcess {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    guard let closeFrom = Self.addCloseFrom else {
      throw HarnessError.setup("this C library has no posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later)")
    }
    _ = closeFrom(&actions, 3)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var unblocked = sigset_t()
    sigemptyset(&unblocked)
    posix_spawnattr_setsigmask(&attributes, &unblocked)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] {
      sigaddset(&defaults, signal)
    }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in environment { free(pointer) }
    }
    var pid = pid_t()
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
    guard result == 0 else {
      throw HarnessError.setup("cannot start \(executable): \(String(cString: strerror(result)))")
    }
    return ChildProcess(processIdentifier: pid)
  }

  /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc module does not
  /// declare: looked up by name, called with the C calling convention.
  private static let addCloseFrom:
    (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? =
      dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
      }

  var isRunning: Bool { reap() == nil }

  /// The exit code, or 128 + the signal that ended it.
  var terminationStatus: Int32 {
    guard let status = reap() else { return -1 }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
  }

  /// Blocks the calling thread until the child has exited.
  func waitUntilExit() {
    while reap() == nil { usleep(10_000) }
  }

  /// Waits, without holding a thread, until the child has exited; its status.
  func exited() async -> Int32 {
    while reap() == nil { try? await Task.sleep(for: .milliseconds(20)) }
    return terminationStatus
  }

  /// The wait status once the child has ended (reaping it the first time), nil while it runs.
  private func reap() -> Int32? {
    waitStatus.withLock { known in
      if let known { return known }
      var status: Int32 = 0
      let result = waitpid(processIdentifier, &status, WNOHANG)
      if result == processIdentifier {
        known = status
        return known
      }
      // Reaped by someone else (a SIGCHLD handler in the process): it has ended once it no longer exists.
      if result == -1 && errno == ECHILD && kill(processIdentifier, 0) != 0 {
        known = 0x7f00
        return known
      }
      return nil
    }
  }
}

/// Running programs from the tests: repository scripts, short commands,
/// background servers, this package's own binaries. No shell anywhere.
extension Fleet {
  /// Runs a repository script with an argument list (no shell); throws unless it succeeds.
  static func run(_ executable: String, _ arguments: [String]) throws {
    let (status, text) = try execute(executable, arguments)
    guard status == 0 else {
      throw HarnessError.setup("\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
    }
  }

  /// Starts a program in the background (no shell), its output going to the file `log`.
  static func startBackground(_ executable: String, _ arguments: [String], log: String) throws -> ChildProcess {
    try ChildProcess.spawn(executable, arguments, output: log)
  }

  /// Runs a program with an argument list (no shell) without holding a
  /// thread while it runs (the in-process controllers answer the child on
  /// the cooperative pool's few threads); its exit status and output.
  static func execute(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let outputPath = NSTemporaryDirectory() + "airlift-exec-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let status = await (try ChildProcess.spawn(executable, arguments, output: outputPath)).exited()
    return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
  }

  /// Runs a program with an argument list (no shell); returns its exit status and output.
  static func execute(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let outputPath = NSTemporaryDirectory() + "airlift-exec-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let child = try ChildProcess.spawn(executable, arguments, output: outputPath)
    child.waitUntilExit()
    return (child.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
  }

  /// A binary this package built (`airlift`, `airlift-agent`), next to the test bundle.
  static func builtBinary(_ name: String) throws -> String {
    let binary = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent()
      .appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: binary) else {
      throw HarnessError.setup("\(binary) is missing; run `swift build --build-tests` first")
    }
    return binary
  }
}
