import AirliftCore

/// What went wrong on the device, worded for the operator who reads it in
/// `airlift deploy show` or the agent's log.
public enum AgentError: Error, Equatable, Sendable, CustomStringConvertible {
  case config(path: String, reason: String)
  case download(url: String, reason: String, retryable: Bool = true)
  case notEnoughSpace(path: String, needed: Int64, free: Int64, reserved: Int64, what: String = "the download")
  case storage(path: String, reason: String)
  case timedOut(stage: String, seconds: Int, last: String)
  case sizeMismatch(artifact: String, expected: Int64, received: Int64)
  /// The server's answer declared more bytes than the signed size: refused before a byte of it is read.
  case oversizedAnswer(artifact: String, expected: Int64, announced: Int64)
  case digestMismatch(artifact: String, expected: String, actual: String)
  case unknownHandler(String, available: [String])
  case rollbackUnsupported(handler: String)
  case nothingToRollBack(package: String, reason: String)
  case command(role: String, reason: String)
  case slot(reason: String)
  case bundle(reason: String)
  /// A step of a multi-step update failed (1-based `number` of `count`).
  case step(number: Int, count: Int, label: String, reason: String)
  case scriptFailed(script: String, status: String, output: String)
  case interrupted(state: String)
  case controller(reason: String)
  /// Another agent process holds this data directory.
  case alreadyRunning(dataDirectory: String, pid: Int32?)
  /// The outbox already holds as many unsent telemetry events as it may.
  case eventQueueFull(queued: Int)

  /// Whether trying again may help (a dropped link, a busy server), as
  /// opposed to a refusal that would only repeat (a bad digest, a full disk).
  public var isRetryable: Bool {
    switch self {
    case .download(_, _, let retryable): return retryable
    case .controller: return true
    default: return false
    }
  }

  public var description: String {
    switch self {
    case .config(let path, let reason):
      return "agent config \(path): \(reason)"
    case .download(let url, let reason, _):
      return "download of \(url) failed: \(reason)"
    case .notEnoughSpace(let path, let needed, let free, let reserved, let what):
      return
        "not enough space in \(path): \(what) needs \(needed) bytes, \(free) are free and \(reserved) must stay free (reservedDiskSpace)"
    case .storage(let path, let reason):
      return "cannot write \(path): \(reason); the partial download was removed"
    case .timedOut(let stage, let seconds, let last):
      return "\(stage) did not finish within the deployment's \(seconds) s; last error: \(last)"
    case .sizeMismatch(let artifact, let expected, let received):
      return "artifact \(artifact): expected \(expected) bytes, received \(received); refusing to install it"
    case .oversizedAnswer(let artifact, let expected, let announced):
      return
        "artifact \(artifact): expected \(expected) bytes, the server announced \(announced); refusing to download it"
    case .digestMismatch(let artifact, let expected, let actual):
      return
        "artifact \(artifact): SHA-256 digest mismatch (expected \(expected), got \(actual)); the file was altered or corrupted, refusing to install it"
    case .unknownHandler(let name, let available):
      return
        "no install handler named '\(name)' on this device (available: \(available.joined(separator: ", "))\(name == HandlerName.abSlot ? "; ab-slot needs the abSlot config key" : ""))"
    case .rollbackUnsupported(let handler):
      return "the \(handler) handler cannot switch back to a previous version on request; deploy that version instead"
    case .nothingToRollBack(let package, let reason):
      return "cannot roll \(package) back: \(reason)"
    case .command(let role, let reason):
      return "\(role): \(reason)"
    case .step(let number, let count, let label, let reason):
      return "step \(number) of \(count) (\(label)): \(reason)"
    case .slot(let reason):
      return "A/B slot: \(reason)"
    case .bundle(let reason):
      return "release bundle is unusable: \(reason)"
    case .scriptFailed(let script, let status, let output):
      return output.isEmpty ? "\(script) script \(status)" : "\(script) script \(status): \(output)"
    case .interrupted(let state):
      return "the agent stopped while \(state); the install was interrupted and not retried"
    case .controller(let reason):
      return "controller request failed: \(reason)"
    case .alreadyRunning(let dataDirectory, let pid):
      return
        "another airlift-agent\(pid.map { " (pid \($0))" } ?? "") is running with the data directory \(dataDirectory); stop it first (one agent per data directory)"
    case .eventQueueFull(let queued):
      return
        "the event was not queued: \(queued) events wait to be sent already (the device has been offline a while, or sends faster than the controller takes); try again later"
    }
  }
}
