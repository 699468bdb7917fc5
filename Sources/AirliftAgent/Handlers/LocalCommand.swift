import Foundation
import Subprocess
import SystemPackage

/// A command the agent runs, given as an argument list (never a shell
/// string): the boot switch, the health check, a precondition, an install
/// script, tar, Compose. Each runs in a session and process group of its
/// own, recorded in the update's `ProcessLedger` while it runs, and a
/// timeout ends the whole group.
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
    /// Every non-empty line of stderr (the last 2,000 characters): the whole reason, for a report.
    var errors: String
  }

  /// Runs the command with `extra` arguments appended and `environment`
  /// added to the agent's own; stops its process group after `timeout`
  /// seconds (nil: no limit of its own).
  /// `onLine` sees each line of stdout as it comes (a tool's progress); the outcome still has stdout's last
  /// `outputLimit` bytes.
  func run(
    _ extra: [String] = [], environment: [String: String] = [:], workingDirectory: String? = nil,
    timeout: Double? = 300, outputLimit: Int = 65536, onLine: (@Sendable (String) -> Void)? = nil
  ) async throws -> Outcome {
    guard let program = argv.first, !program.isEmpty else {
      throw AgentError.command(role: role, reason: "the command is empty")
    }
    let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
    let ledger = ProcessLedger.current
    var added: [Environment.Key: String?] = [:]
    for (key, value) in environment { added[Environment.Key(stringLiteral: key)] = value }
    if let ledger { added[Environment.Key(stringLiteral: ProcessLedger.markerName)] = ledger.marker }
    var platform = PlatformOptions()
    platform.createSession = true
    platform.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
    let arguments = Arguments(Array(argv.dropFirst()) + extra)
    let name = ([program] + extra.prefix(3)).joined(separator: " ")
    let directory = workingDirectory.map { FilePath($0) }
    let launch = { @Sendable [added, platform] () async throws -> Finished in
      guard let onLine else {
        let result = try await Subprocess.run(
          executable, arguments: arguments, environment: .inherit.updating(added), workingDirectory: directory,
          platformOptions: platform, input: .none, output: .string(limit: outputLimit),
          error: .string(limit: 65536)
        ) { execution in
          ledger?.started(execution.processIdentifier.value, command: name)
        }
        return Finished(
          pid: result.processIdentifier.value, status: result.terminationStatus,
          output: result.standardOutput ?? "", error: result.standardError)
      }
      let result = try await Subprocess.run(
        executable, arguments: arguments, environment: .inherit.updating(added), workingDirectory: directory,
        platformOptions: platform, input: .none, output: .sequence, error: .string(limit: 65536)
      ) { execution in
        ledger?.started(execution.processIdentifier.value, command: name)
        var kept = ""
        for try await line in execution.standardOutput.strings() {
          onLine(line)
          kept += line + "\n"
          if kept.utf8.count > outputLimit { kept = String(kept.suffix(outputLimit / 2)) }
        }
        return kept
      }
      return Finished(
        pid: result.processIdentifier.value, status: result.terminationStatus, output: result.closureResult,
        error: result.standardError)
    }
    do {
      let result =
        if let timeout {
          try await withTimeout(.milliseconds(Int64(min(max(timeout, 0), 2_592_000) * 1000)), launch)
        } else {
          try await launch()
        }
      ledger?.ended(result.pid)
      let out = result.output
      let errors = Self.lines(result.error)
      let message = BundleArchive.lastLine(result.error) ?? BundleArchive.lastLine(out) ?? ""
      switch result.status {
      case .exited(0):
        return Outcome(
          succeeded: true, status: "exited with status 0", standardOutput: out, message: message, errors: errors)
      case .exited(let code):
        return Outcome(
          succeeded: false, status: "exited with status \(code)", standardOutput: out, message: message,
          errors: errors)
      case .signaled(let signal):
        return Outcome(
          succeeded: false, status: "was killed by signal \(signal)", standardOutput: out, message: message,
          errors: errors)
      }
    } catch is CancellationError where !Task.isCancelled {
      throw AgentError.command(role: role, reason: "\(program) did not finish within \(Int(timeout ?? 0)) s")
    } catch let error as AgentError {
      throw error
    } catch {
      throw AgentError.command(role: role, reason: "cannot run \(program): \(error)")
    }
  }

  /// A finished process, whichever way its output was read.
  private struct Finished: Sendable {
    var pid: pid_t
    var status: TerminationStatus
    var output: String
    var error: String?
  }

  /// Runs the command and throws, with its message, unless it succeeds.
  @discardableResult
  func check(
    _ extra: [String] = [], environment: [String: String] = [:], workingDirectory: String? = nil,
    timeout: Double? = 300
  ) async throws -> Outcome {
    let outcome = try await run(extra, environment: environment, workingDirectory: workingDirectory, timeout: timeout)
    guard outcome.succeeded else {
      throw AgentError.command(
        role: role,
        reason: "\(argv.first ?? "") \(outcome.status)\(outcome.message.isEmpty ? "" : ": \(outcome.message)")")
    }
    return outcome
  }

  /// The non-empty lines of `text`, joined with "; ", at most the last 2,000 characters.
  static func lines(_ text: String?) -> String {
    let joined = (text ?? "").split(whereSeparator: \.isNewline)
      .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
    return joined.count > 2000 ? "…" + String(joined.suffix(2000)) : joined
  }
}
