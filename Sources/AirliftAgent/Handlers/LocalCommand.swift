import Foundation
import Subprocess
import SystemPackage

/// A command from the agent's config, given as an argument list (never a
/// shell string): the boot switch, the health check, a precondition.
struct LocalCommand: Sendable {
  /// What the config calls it, for messages ("switchCommand").
  let role: String
  let argv: [String]

  /// What a finished command said.
  struct Outcome: Sendable {
    var succeeded: Bool
    var status: String
    var standardOutput: String
    /// The last non-empty line of stderr, else of stdout: what to show a person.
    var message: String
  }

  /// Runs the command with `extra` arguments appended and `environment`
  /// added to the agent's own; stops it after `timeout` seconds.
  func run(_ extra: [String] = [], environment: [String: String] = [:], timeout: Double = 300) async throws
    -> Outcome
  {
    guard let program = argv.first, !program.isEmpty else {
      throw AgentError.command(role: role, reason: "the command is empty")
    }
    let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
    var added: [Environment.Key: String?] = [:]
    for (key, value) in environment { added[Environment.Key(stringLiteral: key)] = value }
    var platform = PlatformOptions()
    platform.createSession = true
    platform.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
    let arguments = Arguments(Array(argv.dropFirst()) + extra)
    do {
      let result = try await withTimeout(.milliseconds(Int64(timeout * 1000))) { [added, platform] in
        try await Subprocess.run(
          executable, arguments: arguments, environment: .inherit.updating(added), platformOptions: platform,
          input: .none, output: .string(limit: 65536), error: .string(limit: 65536))
      }
      let out = result.standardOutput
      let message = BundleArchive.lastLine(result.standardError) ?? BundleArchive.lastLine(out) ?? ""
      switch result.terminationStatus {
      case .exited(0):
        return Outcome(succeeded: true, status: "exited with status 0", standardOutput: out, message: message)
      case .exited(let code):
        return Outcome(succeeded: false, status: "exited with status \(code)", standardOutput: out, message: message)
      case .signaled(let signal):
        return Outcome(
          succeeded: false, status: "was killed by signal \(signal)", standardOutput: out, message: message)
      }
    } catch is CancellationError where !Task.isCancelled {
      throw AgentError.command(role: role, reason: "\(program) did not finish within \(Int(timeout)) s")
    } catch let error as AgentError {
      throw error
    } catch {
      throw AgentError.command(role: role, reason: "cannot run \(program): \(error)")
    }
  }

  /// Runs the command and throws, with its message, unless it succeeds.
  @discardableResult
  func check(_ extra: [String] = [], environment: [String: String] = [:], timeout: Double = 300) async throws
    -> Outcome
  {
    let outcome = try await run(extra, environment: environment, timeout: timeout)
    guard outcome.succeeded else {
      throw AgentError.command(
        role: role,
        reason: "\(argv.first ?? "") \(outcome.status)\(outcome.message.isEmpty ? "" : ": \(outcome.message)")")
    }
    return outcome
  }
}
