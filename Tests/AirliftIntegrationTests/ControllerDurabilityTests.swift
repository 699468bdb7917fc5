import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite("Controller durability")
struct ControllerDurabilityTests {
  @Test(
    "stopped (SIGTERM) or killed (SIGKILL) mid-deployment: nothing recorded is lost, and reports sent while it was down arrive after restart",
    arguments: [SIGTERM, SIGKILL])
  func controllerKilledAndRestarted(signal: Int32) async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerProcess()
      let client = try #require(fleet.client)
      // An install held until the test lets it end: the controller dies during it.
      let gate = "\(fleet.root)/device-070-may-finish"
      let bundle = try ReleaseBundle.make(in: fleet.root, install: ReleaseBundle.gatedInstall(gate))
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      let config = try fleet.agentConfig("device-070")
      try await fleet.startAgent(config)
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-070"])))
      try await eventually("device-070 to start installing") {
        try await client.deployment(deployment.id).devices.first?.state == .installing
      }

      let status = await fleet.killControllerProcess(signal)
      // A stop asked for (SIGTERM, as systemd sends) is a clean exit, not a failure a service manager records.
      #expect(
        status == (signal == SIGTERM ? 0 : 128 + SIGKILL), "the controller ended with \(String(describing: status))")
      // The install finishes while the controller is down; the agent's
      // `Successful` waits on the broker for the controller's persistent session.
      FileManager.default.createFile(atPath: gate, contents: nil)
      try await eventually("the install to finish while the controller is down") {
        try AgentStore(path: "\(config.dataDirectory)/agent.sqlite").installed()["hello"] == "1.0.0"
      }
      #expect(await client.isHealthy() == false)

      try await fleet.startControllerProcess()
      try await eventually("the reports sent while down to arrive") {
        try await client.deployment(deployment.id).status == .completed
      }
      let after = try await client.deployment(deployment.id)
      #expect(after.devices.map(\.state) == [.successful])
      #expect(try await client.device("device-070").history.map(\.state) == [.successful])
      #expect(try await client.releases().count == 1)
    }
  }
}
