import AirliftAgent
import AirliftCore
import AirliftLogging
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

@main
struct AirliftAgentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "airlift-agent", abstract: "The Airlift device agent.",
    subcommands: [
      Run.self, Status.self, Enroll.self, Check.self, Watch.self, Fetch.self, Install.self, Apply.self, Metadata.self,
      AssetURL.self, Event.self, Updates.self, Start.self,
    ])

  /// As ArgumentParser's, and with `AIRLIFT_PARSE_ONLY` set (the documentation's tests) the command line is
  /// parsed and validated and nothing runs.
  static func main() async {
    do {
      var command = try parseAsRoot()
      if ProcessInfo.processInfo.environment["AIRLIFT_PARSE_ONLY"] != nil {
        print("parsed: \(type(of: command)._commandName)")
        return
      }
      if var command = command as? any AsyncParsableCommand {
        try await command.run()
      } else {
        try command.run()
      }
    } catch {
      exit(withError: error)
    }
  }

  struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Get this device's certificate with a bootstrap token (from `airlift enroll token`).",
      discussion: """
        Makes the device key (the config's "key", if missing; it never leaves the device), sends a certificate \
        signing request for the config's deviceID, waits for an operator's approval (at once for a pre-registered \
        id) and writes the config's "certificate". The config's caFile must already hold the fleet CA.
        """)
    @Option(help: "Agent config (JSON).") var config: String
    @Option(help: "The bootstrap token (or $AIRLIFT_ENROLL_TOKEN).")
    var token: String? = ProcessInfo.processInfo.environment["AIRLIFT_ENROLL_TOKEN"]
    @Option(help: "Seconds to wait for an approval.") var timeout: Double = 3600

    func run() async throws {
      guard let token else { throw ValidationError("give --token (or set AIRLIFT_ENROLL_TOKEN)") }
      do {
        try await Enrollment.run(config: try AgentConfig.load(path: config), token: token, timeout: timeout) {
          print($0)
        }
      } catch {
        print("error: \(error)")
        throw ExitCode(1)
      }
    }
  }

  struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent until SIGTERM or SIGINT.")
    @Option(help: "Agent config (JSON).") var config: String
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
      logging.bootstrap()
      let agent = try Agent(config: try AgentConfig.load(path: config))
      let group = ServiceGroup(
        configuration: .init(
          services: [.init(service: agent, successTerminationBehavior: .gracefullyShutdownGroup)],
          gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "airlift.agent")))
      try await group.run()
      if agent.restartRequested {
        // Without a rebootCommand this exit is the "reboot": the supervisor starts the agent again.
        print("airlift-agent: exiting for the restart an update asked for")
      }
    }
  }

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Connect once to the broker and the controller with this device's certificate.")
    @Option(help: "Agent config (JSON).") var config: String

    func run() async throws {
      let agent = try Agent(config: try AgentConfig.load(path: config))
      do {
        try await agent.checkConnectivity()
        print("ok: \(agent.deviceID) reached the broker and the controller")
      } catch {
        print("error: \(error)")
        throw ExitCode(1)
      }
    }
  }

  struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the agent's device:update events as they happen (from its local socket).")
    @Option(help: "Agent config (JSON); its eventSocket is read.") var config: String
    @Flag(help: "Print the raw JSON lines.") var json = false

    func run() async throws {
      StandardOutput.lineBuffered()
      let settings = try AgentConfig.load(path: config)
      let lines: AsyncThrowingStream<String, any Error>
      do {
        lines = try await EventSocketClient.lines(path: settings.eventSocketPath)
      } catch {
        throw ValidationError("cannot connect to \(settings.eventSocketPath): \(error) (is the agent running?)")
      }
      for try await line in lines {
        guard !json, let event = try? Wire.decode(DeviceUpdateEvent.self, from: Array(line.utf8), topic: "events")
        else {
          Self.emit(line)
          continue
        }
        let progress = event.progress.map { " \($0)%" } ?? ""
        let detail = [event.stage, event.error].compactMap { $0 }.joined(separator: "; ")
        Self.emit(
          "\(event.time.formatted(.iso8601)) \(event.deployment) \(event.package)@\(event.version) \(event.state.rawValue)\(progress)\(detail.isEmpty ? "" : " (\(detail))")"
        )
      }
    }

    /// Writes one event line straight to standard output: a program reading
    /// `airlift-agent watch --json |` gets each event as it happens, not when
    /// a pipe's buffer fills.
    static func emit(_ line: String) {
      FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
  }
}
