import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// One agent per data directory, and a store that any number of processes
/// may open at once.
@Suite("One agent per data directory")
struct AgentInstanceTests {
  @Test("a second airlift-agent on the same data directory exits naming the running one; the first stays online")
  func secondAgentRefused() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("instance-01")
      try fleet.startAgentProcess(config)
      try await eventually("instance-01 to be online") {
        (try? await client.device("instance-01").device.online) == true
      }
      let pid = try #require(fleet.agentPID("instance-01"))
      let (status, output) = try await Fleet.execute(
        try Fleet.builtBinary("airlift-agent"), ["run", "--config", fleet.agentConfigPath("instance-01")])
      #expect(status != 0)
      #expect(output.contains("another airlift-agent (pid \(pid)) is running with the data directory"), "\(output)")
      #expect(kill(pid, 0) == 0, "the first agent still runs")
      #expect(try await client.device("instance-01").device.online)
      // The lock goes with the process, however it ends: after kill -9 a new agent starts.
      await fleet.killAgentProcess("instance-01")
      try fleet.startAgentProcess(config)
      let restarted = try #require(fleet.agentPID("instance-01"))
      try await eventually("the restarted agent to hold the lock") {
        (try? String(contentsOfFile: "\(config.dataDirectory)/agent.lock", encoding: .utf8))?
          .trimmingCharacters(in: .whitespacesAndNewlines) == "\(restarted)"
      }
    }
  }
}
