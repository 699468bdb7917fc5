import Foundation

/// Running programs from the tests: repository scripts, short commands,
/// background servers, this package's own binaries. No shell anywhere.
extension Fleet {
  /// Serializes child launches. Foundation's `Process.run` crashed (a bad
  /// read in its memcpy) while two tests launched children at once; it was
  /// seen once more with this lock in place, so something else races with it
  /// too (not found yet). Moving the harness to swift-subprocess is the next step.
  private static let launchLock = NSLock()

  static func launch(_ process: Process) throws {
    launchLock.lock()
    defer { launchLock.unlock() }
    try process.run()
  }

  /// Runs a repository script with an argument list (no shell); throws unless it succeeds.
  static func run(_ executable: String, _ arguments: [String]) throws {
    let (status, text) = try execute(executable, arguments)
    guard status == 0 else {
      throw HarnessError.setup("\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
    }
  }

  /// Starts a program in the background (no shell), its output going to the file `log`.
  static func startBackground(_ executable: String, _ arguments: [String], log: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    process.standardOutput = handle
    process.standardError = handle
    try Self.launch(process)
    return process
  }

  /// A child process whose output (standard output and error) goes to a new
  /// temporary file, not a pipe: a broker or controller that another test
  /// starts at the same moment may inherit a pipe's write end, and reading to
  /// its end would then wait until that process exits.
  private static func child(_ executable: String, _ arguments: [String]) throws -> (
    process: Process, outputPath: String, output: FileHandle
  ) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let outputPath = NSTemporaryDirectory() + "airlift-exec-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    process.standardOutput = output
    process.standardError = output
    return (process, outputPath, output)
  }

  /// Runs a program with an argument list (no shell) without holding a
  /// thread while it runs: the in-process controllers answer the child on
  /// the cooperative pool's few threads, and waiting on one of those (or on
  /// Dispatch's, which Foundation needs to notice the exit) stalls them.
  static func execute(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let (process, outputPath, output) = try child(executable, arguments)
    // No thread waits: Foundation calls the handler when the child exits.
    return try await withCheckedThrowingContinuation { continuation in
      process.terminationHandler = { finished in
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outputPath)
        continuation.resume(returning: (finished.terminationStatus, text))
      }
      do {
        try Self.launch(process)
        try? output.close()
      } catch {
        try? output.close()
        try? FileManager.default.removeItem(atPath: outputPath)
        continuation.resume(throwing: error)
      }
    }
  }

  /// Runs a program with an argument list (no shell); returns its exit status and output.
  static func execute(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    try executeBlocking(executable, arguments)
  }

  private static func executeBlocking(_ executable: String, _ arguments: [String]) throws -> (
    status: Int32, output: String
  ) {
    let (process, outputPath, output) = try child(executable, arguments)
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    do {
      try Self.launch(process)
    } catch {
      try? output.close()
      throw error
    }
    try? output.close()
    process.waitUntilExit()
    let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return (process.terminationStatus, text)
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
