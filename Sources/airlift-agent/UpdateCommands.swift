import AirliftAgent
import AirliftCore
import ArgumentParser
import Foundation

// The device side a fioup user expects: fetch without installing, install what was fetched, or apply it with
// another program and say how it went. Each asks the running agent through its socket, so nothing runs twice.

/// Sends one request to the running agent; a clear error when none answers.
func askAgent(_ request: LocalRequest, config: String) async throws -> LocalReply {
  let settings = try AgentConfig.load(path: config)
  do {
    return try await EventSocketClient.send(request, path: settings.eventSocketPath)
  } catch {
    throw ValidationError("cannot reach the agent at \(settings.eventSocketPath): \(error) (is it running?)")
  }
}

/// Prints a reply (as JSON with `--json`) and fails when the agent refused.
func printReply(_ reply: LocalReply, json: Bool) throws {
  if json {
    print(String(decoding: Wire.encode(reply), as: UTF8.self))
  } else {
    print(reply.ok ? reply.message : "error: \(reply.message)")
    for (name, path) in (reply.ready?.files ?? [:]).sorted(by: { $0.key < $1.key }) { print("  \(name): \(path)") }
  }
  if !reply.ok { throw ExitCode(1) }
}

/// Follows the agent's events until `done` says an event ends the wait (or the time runs out).
func followAgent(
  config: String, within seconds: Double, done: @escaping @Sendable (DeviceUpdateEvent) -> Bool,
  after request: LocalRequest
) async throws -> (LocalReply, DeviceUpdateEvent?) {
  let settings = try AgentConfig.load(path: config)
  let lines: AsyncThrowingStream<String, any Error>
  do {
    lines = try await EventSocketClient.lines(path: settings.eventSocketPath)
  } catch {
    throw ValidationError("cannot reach the agent at \(settings.eventSocketPath): \(error) (is it running?)")
  }
  let reply = try await askAgent(request, config: config)
  // Nothing to wait for: refused, no update under way, or (fetch) already downloaded.
  guard reply.ok, reply.deployment != nil, reply.ready == nil || request.command != "fetch" else {
    return (reply, nil)
  }
  let event = try await withThrowingTaskGroup(of: DeviceUpdateEvent?.self) { group in
    group.addTask {
      for try await line in lines {
        if let event = try? Wire.decode(DeviceUpdateEvent.self, from: Array(line.utf8), topic: "events"),
          event.deployment == reply.deployment, done(event)
        {
          return event
        }
      }
      return nil
    }
    group.addTask {
      try await Task.sleep(for: .seconds(seconds))
      return nil
    }
    let first = try await group.next() ?? nil
    group.cancelAll()
    return first
  }
  return (reply, event)
}

/// The options of a command that waits for the running agent.
struct WaitingOptions: ParsableArguments {
  @Option(help: "Agent config (JSON); its eventSocket is used.") var config: String
  @Option(help: "Seconds to wait (1-86400).") var timeout: Double = 3600
  @Flag(help: "Print the agent's answer as JSON.") var json = false

  func validate() throws {
    guard timeout.isFinite, (1...86_400).contains(timeout) else {
      throw ValidationError("--timeout is \(timeout): give 1 to 86400 seconds")
    }
  }
}

struct Fetch: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Download the update without installing it; prints the verified files (install with `install`).")
  @OptionGroup var options: WaitingOptions

  func run() async throws {
    let (reply, event) = try await followAgent(
      config: options.config, within: options.timeout,
      done: { $0.event == "ready" || $0.state.isTerminal }, after: LocalRequest(command: "fetch"))
    guard reply.ok, reply.ready == nil, reply.deployment != nil else {
      return try printReply(reply, json: options.json)
    }
    guard let event else {
      throw ValidationError("deployment \(reply.deployment ?? "") was not downloaded within \(Int(options.timeout)) s")
    }
    var done = reply
    done.ready = event.event == "ready" ? event : nil
    done.ok = event.event == "ready" || event.state == .successful
    done.message =
      event.event == "ready"
      ? "deployment \(event.deployment) (\(event.package)@\(event.version)) is downloaded and waits for install"
      : "deployment \(event.deployment) ended \(event.state.rawValue)" + (event.error.map { ": \($0)" } ?? "")
    try printReply(done, json: options.json)
  }
}

struct Install: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Install the fetched update and wait until it has ended (or the device restarts for it).")
  @OptionGroup var options: WaitingOptions

  func run() async throws {
    let (reply, event) = try await followAgent(
      config: options.config, within: options.timeout, done: { $0.state.isTerminal || $0.state == .rebooting },
      after: LocalRequest(command: "apply"))
    guard reply.ok else { return try printReply(reply, json: options.json) }
    guard let event else {
      throw ValidationError("deployment \(reply.deployment ?? "") did not end within \(Int(options.timeout)) s")
    }
    var done = reply
    done.ready = nil
    done.ok = event.state == .successful || event.state == .rebooting
    done.message =
      "deployment \(event.deployment) (\(event.package)@\(event.version)) \(event.state.rawValue)"
      + (event.error.map { ": \($0)" } ?? "")
    try printReply(done, json: options.json)
  }
}

struct Apply: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Give consent: install the downloaded update that waits for it (consent mode, or after `fetch`).",
    discussion: """
      With --result, a program on the device applied the update itself (from the files of the "ready" event) and \
      says how it went: ok records it as installed and reports Successful; failed reports Failed with --message, \
      and the handler rolls back what it can.
      """)
  @Option(help: "Agent config (JSON); its eventSocket is used.") var config: String
  @Option(help: "ok or failed: the outcome of applying the update yourself.") var result: String?
  @Option(help: "Why it failed (with --result failed).") var message: String?
  @Flag(help: "Print the agent's answer as JSON.") var json = false

  func validate() throws {
    if let result, result != "ok" && result != "failed" {
      throw ValidationError("--result is '\(result)': give ok or failed")
    }
    if message != nil && result == nil { throw ValidationError("--message goes with --result failed") }
  }

  func run() async throws {
    try printReply(
      try await askAgent(LocalRequest(command: "apply", result: result, message: message), config: config),
      json: json)
  }
}

struct Updates: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the versions available to this device: its deployment, its channels' tags, its policies' offers.",
    discussion: "Asks the controller over HTTPS with the device's certificate; no running agent needed.")
  @Option(help: "Agent config (JSON).") var config: String
  @Flag(help: "Print the controller's answer as JSON.") var json = false

  func run() async throws {
    let updates: AvailableUpdates
    do {
      updates = try await DeviceAPI(config: try AgentConfig.load(path: config)).availableUpdates()
    } catch {
      print("error: \(error)")
      throw ExitCode(1)
    }
    if json { return print(String(decoding: Wire.encode(updates), as: UTF8.self)) }
    if updates.offers.isEmpty { return print("no updates for \(updates.device)") }
    for offer in updates.offers {
      let from = offer.installed.map { "runs \($0)" } ?? "not installed"
      let via = offer.via.map { " \($0)" } ?? ""
      let state = offer.state.map { ", \($0.rawValue)" } ?? ""
      print(
        "\(offer.package)@\(offer.version)  \(offer.source.rawValue)\(via)\(state)  (\(from)\(offer.isNew ? "" : ", current"))"
      )
    }
  }
}

struct Start: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Start the installed Compose apps' current versions again (after a boot that did not).")
  @Option(help: "Agent config (JSON); its eventSocket is used.") var config: String
  @Flag(help: "Print the agent's answer as JSON.") var json = false

  func run() async throws {
    try printReply(try await askAgent(LocalRequest(command: "start"), config: config), json: json)
  }
}
