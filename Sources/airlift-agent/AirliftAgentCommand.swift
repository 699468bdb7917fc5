import AirliftAgent
import ArgumentParser
import Logging
import ServiceLifecycle
import UnixSignals

@main
struct AirliftAgentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "airlift-agent", abstract: "The Airlift device agent.", subcommands: [Run.self, Check.self])

  struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent until SIGTERM or SIGINT.")
    @Option(help: "Agent config (JSON).") var config: String

    func run() async throws {
      LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
      let agent = try Agent(config: try AgentConfig.load(path: config))
      let group = ServiceGroup(
        configuration: .init(
          services: [.init(service: agent)], gracefulShutdownSignals: [.sigterm, .sigint],
          logger: Logger(label: "airlift.agent")))
      try await group.run()
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
}
