import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// The `rauc` handler with Debian's real RAUC 1.8: bundles installed by
/// `rauc service` into loop-device slots, its boot state kept by its own
/// GRUB backend in a real grubenv (or its custom backend), marked good or
/// bad after the reboot (RAUCDevice plays GRUB's script and the reboot).
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

  @Test(
    "a bundle for other hardware is refused by RAUC; a good one goes to slot B, boots, and is marked good after the health check",
    arguments: [RAUCDevice.Backend.grub, .custom])
  func installs(_ backend: RAUCDevice.Backend) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try RAUCDevice(in: fleet.root, compatible: "gw-200", backend: backend)
      defer { device.stop() }
      var config = try fleet.agentConfig("rauc-1")
      config.rauc = RAUCConfig(
        systemBus: device.busAddress,
        healthCheckCommand: [try TestScript.write("\(fleet.root)/health.sh", "exit 0")], commandTimeout: 120)
      try fleet.startAgentProcess(config)

      let (wrong, _) = try device.bundle(version: "1.9.0", compatible: "gw-100")
      let refused = try await client.ended(
        try await deploy(fleet, client, wrong, version: "1.9.0", to: config.deviceID).id, as: .failed)
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
      let done = try await client.ended(deployment.id, as: .successful)
      #expect(done.state == .successful, "\(done.error ?? "")")
      #expect(try device.status()["booted"] as? String == "B")
      #expect(try device.state("B") == "good", "rauc status mark-good marked B")
      if backend == .grub {
        let env = try device.environment()
        #expect(env["ORDER"] == "B A" && env["B_TRY"] == "0", "committed in the grubenv: \(env)")
        // GRUB marks every boot tried; the agent confirms each ordinary start, so later reboots stay on B.
        for _ in 1...2 {
          await fleet.killAgentProcess(config.deviceID, SIGTERM)
          #expect(try device.powerCycle() == "B")
          #expect(try device.environment()["B_TRY"] == "1")
          try fleet.startAgentProcess(config)
          try await eventually("the agent to confirm B") { try device.environment()["B_TRY"] == "0" }
        }
      }
    }
  }

  @Test(
    "a failed health check after the reboot marks B bad, makes A primary again, and reports RolledBack",
    arguments: [RAUCDevice.Backend.grub, .custom])
  func unhealthy(_ backend: RAUCDevice.Backend) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try RAUCDevice(in: fleet.root, compatible: "gw-200", backend: backend)
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
      #expect(try device.state("B") == "bad")
      #expect(try device.powerCycle() == "A")
      try fleet.startAgentProcess(config)
      let ended = try await client.ended(deployment.id, as: .rolledBack)
      #expect(ended.state == .rolledBack)
      #expect(ended.error?.contains("modem does not answer") == true, "\(ended.error ?? "")")
    }
  }

  @Test("a new slot that never comes up is tried once; GRUB falls back to A and the agent there reports RolledBack")
  func bootLoop() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try RAUCDevice(in: fleet.root, compatible: "gw-200")
      defer { device.stop() }
      var config = try fleet.agentConfig("rauc-loop")
      config.rauc = RAUCConfig(systemBus: device.busAddress, commandTimeout: 120)
      try fleet.startAgentProcess(config)
      let (bundle, _) = try device.bundle(version: "2.0.0", compatible: "gw-200")
      let deployment = try await deploy(fleet, client, bundle, version: "2.0.0", to: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      // B boots once and hangs before the agent starts: nothing marks it good, so the next boot is A's.
      #expect(try device.powerCycle() == "B")
      #expect(try device.environment()["B_TRY"] == "1")
      #expect(try device.powerCycle() == "A")
      try fleet.startAgentProcess(config)
      let ended = try await client.ended(deployment.id, as: .rolledBack)
      #expect(ended.state == .rolledBack)
      #expect(ended.error?.contains("booted slot A, not the new slot B") == true, "\(ended.error ?? "")")
      #expect(device.primary == "A")
    }
  }

  @Test("the operator's rollback makes the other slot active through RAUC, and the device boots the version before")
  func operatorRollback() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try RAUCDevice(in: fleet.root, compatible: "gw-200")
      defer { device.stop() }
      var config = try fleet.agentConfig("rauc-back")
      config.rauc = RAUCConfig(systemBus: device.busAddress, commandTimeout: 120)
      try fleet.startAgentProcess(config)
      // 2.0.0 into B, then 3.0.0 into A: the rollback goes back to B.
      for (version, slot) in [("2.0.0", "B"), ("3.0.0", "A")] {
        let (bundle, _) = try device.bundle(version: version, compatible: "gw-200")
        let deployment = try await deploy(fleet, client, bundle, version: version, to: config.deviceID)
        #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
        #expect(try device.powerCycle() == slot)
        try fleet.startAgentProcess(config)
        let done = try await client.ended(deployment.id, as: .successful)
        #expect(done.state == .successful, "\(done.error ?? "")")
      }
      try await eventually("the inventory to show 3.0.0") {
        try await client.device(config.deviceID).device.installed["rootfs"] == "3.0.0"
      }
      var command = try await client.rollBack(device: config.deviceID, package: "rootfs", reason: "field reports")
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(device.primary == "B")
      #expect(try device.powerCycle() == "B")
      let version = try BootStep.run(["debugfs", "-R", "cat /version", device.b.path])
      #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == "2.0.0")
      try fleet.startAgentProcess(config)
      command = try await client.answer(to: command)
      #expect(command.status == .succeeded, "\(command.message ?? "")")
      #expect(command.message == "rolled rootfs back from 3.0.0 to 2.0.0")
    }
  }
}
