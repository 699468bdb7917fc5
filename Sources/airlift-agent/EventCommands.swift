import AirliftAgent
import AirliftCore
import ArgumentParser
import Foundation

/// `airlift-agent event send KIND [DATA]`: telemetry from a program on the device, through the agent.
struct Event: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Telemetry events for the controller.", subcommands: [Send.self])

  struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Queue a telemetry event; the agent sends it (and keeps it while the device is offline).",
      discussion: """
        KIND names what it is about (1-64 letters, digits, '_', '.', '-'); DATA is any JSON up to 8 KiB \
        (default null; '-' reads it from standard input). Goes through the running agent's socket; when no agent \
        runs, it waits in the agent's outbox for the next start. Example: \
        airlift-agent event send --config agent.json temperature '{"c": 71}'
        """)
    @Option(help: "Agent config (JSON); its eventSocket and dataDirectory are used.") var config: String
    @Argument(help: "What the event is about, e.g. temperature.") var kind: String
    @Argument(help: "The event's data as JSON ('-': standard input).") var data: String?

    func validate() throws {
      do {
        try DeviceEvent.validateKind(kind)
      } catch {
        throw ValidationError("\(error)")
      }
    }

    func run() async throws {
      let settings = try AgentConfig.load(path: config)
      let text = data == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : data
      let value: JSONValue
      do {
        value = try text.map { try JSONValue.parse($0) } ?? .null
        try DeviceEvent.validateData(value)
      } catch {
        throw ValidationError("\(error)")
      }
      if let reply = try? await EventSocketClient.send(
        LocalRequest(command: "event", kind: kind, data: value), path: settings.eventSocketPath)
      {
        print(reply.ok ? reply.message : "error: \(reply.message)")
        if !reply.ok { throw ExitCode(1) }
        return
      }
      // No agent answers on the socket: the event waits in its outbox for the next start.
      do {
        let store = try AgentStore(path: "\(settings.dataDirectory)/agent.sqlite")
        try store.enqueueEvent(DeviceEvent(device: try DeviceID(settings.deviceID), kind: kind, data: value))
        print(
          "queued \(kind); the agent is not running (no answer on \(settings.eventSocketPath)): it sends it when it starts"
        )
      } catch {
        print("error: \(error)")
        throw ExitCode(1)
      }
    }
  }
}
