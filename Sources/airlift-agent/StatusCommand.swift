import AirliftAgent
import AirliftCore
import ArgumentParser
import Foundation

extension AirliftAgentCommand {
  struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show the device's state, its update, last check-in, queued reports, bytes downloaded, last error.",
      discussion: """
        Asks the running agent on its event socket; when it does not answer, reads the agent's store \
        (then "running" is false and "connected" unknown).
        """)
    @Option(help: "Agent config (JSON).") var config: String
    @Flag(help: "Print JSON (dates in ISO 8601).") var json = false

    func run() async throws {
      let settings = try AgentConfig.load(path: config)
      let status: AgentStatus
      if let live = await Self.ask(settings.eventSocketPath) {
        status = live
      } else {
        let path = "\(settings.dataDirectory)/agent.sqlite"
        guard FileManager.default.fileExists(atPath: path) else {
          throw ValidationError("no agent state at \(path): the agent has not run with this config yet")
        }
        do {
          status = try AgentStore(path: path).status(device: settings.deviceID)
        } catch {
          throw ValidationError("cannot read the agent state at \(path): \(error)")
        }
      }
      if json {
        print(String(decoding: Wire.encode(status), as: UTF8.self))
      } else {
        print(Self.text(status))
      }
    }

    /// The running agent's answer, or nil when it does not answer within 3 s.
    static func ask(_ socket: String) async -> AgentStatus? {
      guard FileManager.default.fileExists(atPath: socket) else { return nil }
      return await withTaskGroup(of: AgentStatus?.self) { group in
        group.addTask { try? await EventSocketClient.send(LocalRequest(command: "status"), path: socket).status }
        group.addTask {
          try? await Task.sleep(for: .seconds(3))
          return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
      }
    }

    static func text(_ status: AgentStatus) -> String {
      func when(_ date: Date?) -> String {
        guard let date else { return "never" }
        return "\(date.formatted(.iso8601)) (\(Int(Date().timeIntervalSince(date))) s ago)"
      }
      let agent =
        status.running
        ? "running, \(status.connected == true ? "connected" : "not connected to the broker")" : "not running"
      var lines = [
        "device         \(status.device) (agent \(status.agentVersion), \(agent))",
        "state          \(status.state)",
      ]
      if let update = status.update {
        let error = update.error.map { ": \($0)" } ?? ""
        lines.append(
          "update         \(update.deployment) \(update.release) \(update.state)\(error) at \(when(update.updatedAt))")
      }
      let installed = status.installed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
      lines += [
        "installed      \(installed.isEmpty ? "nothing yet" : installed.joined(separator: ", "))",
        "last check-in  \(when(status.lastCheckIn))",
        "queue          \(status.queueLength) message(s) waiting for the broker",
        "downloaded     \(ByteCount.text(status.bytesDownloaded))",
        "last error     \(status.lastError.map { "\($0) at \(when(status.lastErrorAt))" } ?? "none")",
      ]
      return lines.joined(separator: "\n")
    }
  }
}
