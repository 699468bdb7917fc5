import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// The `rauc` handler with Debian's real RAUC 1.8: bundles installed by
/// `rauc service` into loop-device slots, marked good or bad after the
/// reboot (RAUCDevice plays the bootloader and the reboot).
@Suite(
  "RAUC bundles (needs root and loop devices)", .enabled(if: LoopDevice.available, "needs root and loop devices"))
struct RAUCTests {
  private func deploy(_ fleet: Fleet, _ client: ControllerClient, _ bundle: String, version: String, to device: String)
    async throws -> API.Deployment
  {
    _ = try await client.uploadRelease(package: "rootfs", version: version, file: bundle, handler: "rauc")
    try await ABBootloaderTests.checkedIn(client, device)
    return try await client.createDeployment(
      .init(package: "rootfs", version: version, target: .init(devices: [device])))
  }

  private func end(_ client: ControllerClient, _ deployment: API.Deployment) async throws -> API.DeviceProgress {
    try await eventually("the update to end") {
      try await client.deployment(deployment.id).devices.first?.state.isTerminal == true
    }
    return try #require(try await client.deployment(deployment.id).devices.first)
  }

  @Test(
    "a bundle for other hardware is refused by RAUC; a good one goes to slot B, boots, and is marked good after the health check"
  )
  func installs() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try RAUCDevice(in: fleet.root, compatible: "gw-200")
      defer { device.stop() }
      var config = try fleet.agentConfig("rauc-1")
      config.rauc = RAUCConfig(
        systemBus: device.busAddress,
        healthCheckCommand: [try TestScript.write("\(fleet.root)/health.sh", "exit 0")], commandTimeout: 120)
      try fleet.startAgentProcess(config)

      let (wrong, _) = try device.bundle(version: "1.9.0", compatible: "gw-100")
      let refused = try await end(client, try await deploy(fleet, client, wrong, version: "1.9.0", to: config.deviceID))
      #expect(refused.state == .failed)
      #expect(refused.error?.contains("rauc install") == true, "\(refused.error ?? "")")
      #expect(device.primary == "A")

      let (bundle, _) = try device.bundle(version: "2.0.0", compatible: "gw-200")
      let deployment = try await deploy(fleet, client, bundle, version: "2.0.0", to: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(device.primary == "B")
      // RAUC wrote the image's filesystem to B (and its own status file into it): read the version back.
      let version = try BootStep.run(["debugfs", "-R", "cat /version", device.b.path])
      #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == "2.0.0", "slot B holds \(version)")
      // RAUC's progress lines are the Installing reports, up to its 100 %.
      let finished = try await fleet.report(of: config.deviceID, in: deployment.id, "RAUC's last progress") {
        $0.state == .installing && $0.percent == 100 && ($0.stage ?? "").hasPrefix("rauc: ")
      }
      #expect(finished.stage?.isEmpty == false)
      #expect(try device.powerCycle() == "B")
      try fleet.startAgentProcess(config)
      let done = try await end(client, deployment)
      #expect(done.state == .successful, "\(done.error ?? "")")
      #expect(try device.status()["booted"] as? String == "B")
      let stateB = try String(contentsOfFile: "\(device.folder)/state-B", encoding: .utf8)
      #expect(stateB == "good", "rauc status mark-good marked B")
    }
  }

  @Test("a failed health check after the reboot marks B bad, makes A primary again, and reports RolledBack")
  func unhealthy() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try RAUCDevice(in: fleet.root, compatible: "gw-200")
      defer { device.stop() }
      var config = try fleet.agentConfig("rauc-2")
      config.rauc = RAUCConfig(
        systemBus: device.busAddress,
        healthCheckCommand: [
          try TestScript.write("\(fleet.root)/health.sh", "echo 'modem does not answer' >&2; exit 2")
        ], commandTimeout: 120)
      try fleet.startAgentProcess(config)
      let (bundle, _) = try device.bundle(version: "2.0.0", compatible: "gw-200")
      let deployment = try await deploy(fleet, client, bundle, version: "2.0.0", to: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(try device.powerCycle() == "B")
      try fleet.startAgentProcess(config)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0, "it reboots into A")
      #expect(device.primary == "A")
      #expect(try String(contentsOfFile: "\(device.folder)/state-B", encoding: .utf8) == "bad")
      #expect(try device.powerCycle() == "A")
      try fleet.startAgentProcess(config)
      let ended = try await end(client, deployment)
      #expect(ended.state == .rolledBack)
      #expect(ended.error?.contains("modem does not answer") == true, "\(ended.error ?? "")")
    }
  }
}
