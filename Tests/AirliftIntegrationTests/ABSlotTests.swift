import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// The `ab-slot` handler through the real agent binary: the new image goes
/// to the slot that did not boot, and a bad boot ends on the old slot.
@Suite("The ab-slot handler: boot counter, fallback, health check")
struct ABSlotTests {
  private func release(_ fleet: Fleet, device: String, bytes: Int = 200_000) async throws -> (API.Deployment, Data) {
    let client = try #require(fleet.client)
    let image = Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) })
    let file = "\(fleet.root)/\(device).img"
    try image.write(to: URL(fileURLWithPath: file))
    _ = try await client.uploadRelease(package: "rootfs", version: "2.0.0", file: file, handler: "ab-slot")
    try await ABBootloaderTests.checkedIn(client, device)
    let deployment = try await client.createDeployment(
      .init(package: "rootfs", version: "2.0.0", target: .init(devices: [device])))
    return (deployment, image)
  }

  private func waitFor(_ client: ControllerClient, _ deployment: String, _ state: DeviceState) async throws
    -> API.DeviceProgress
  {
    try await eventually("the device to be \(state.rawValue)") {
      try await client.deployment(deployment).devices.first?.state == state
    }
    return try #require(try await client.deployment(deployment).devices.first)
  }

  private func lines(_ path: String) -> Int {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
  }

  @Test("a device that never passes its health check stops after maxBoots starts and boots the old slot again")
  func bootLoop() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try FakeBootloader(in: fleet.root)
      let log = "\(fleet.root)/health.log"
      let healthRelease = "\(fleet.root)/health.release"
      // Each start hangs in the health check, as a device that crashes while booting would.
      let health = try TestScript.write(
        "\(fleet.root)/health.sh",
        "echo started >> '\(log)'; i=0; while [ ! -e '\(healthRelease)' ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done; exit 1"
      )
      var config = try fleet.agentConfig("ab-loop")
      config.maxBoots = 2
      config.abSlot = boot.config(healthCheck: [health])
      try fleet.startAgentProcess(config)
      let (deployment, _) = try await release(fleet, device: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      try boot.powerCycle()
      #expect(boot.booted == "b")
      for start in 1...2 {
        try fleet.startAgentProcess(config)
        try await eventually("health check \(start)") { self.lines(log) == start }
        await fleet.killAgentProcess(config.deviceID)
      }
      // The third start is one too many: switch back, report, reboot.
      try fleet.startAgentProcess(config)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(lines(log) == 2)
      #expect(boot.next == "a")
      try boot.powerCycle()
      #expect(boot.booted == "a")
      let device = try await waitFor(client, deployment.id, .rolledBack)
      #expect(device.error?.contains("boot loop: started 3 times without passing the health check") == true)
      _ = FileManager.default.createFile(atPath: healthRelease, contents: nil)
    }
  }

  @Test("when the bootloader falls back to the old slot, the agent notices and reports RolledBack without a reboot")
  func bootloaderFellBack() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try FakeBootloader(in: fleet.root)
      var config = try fleet.agentConfig("ab-fallback")
      config.abSlot = boot.config()
      try fleet.startAgentProcess(config)
      let (deployment, image) = try await release(fleet, device: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(boot.slot("b") == image)
      // No power cycle into b: the device came back up on a.
      try fleet.startAgentProcess(config)
      let device = try await waitFor(client, deployment.id, .rolledBack)
      #expect(device.error?.contains("the device booted slot 'a', not the new slot 'b'") == true)
      #expect(boot.next == "a")
      let store = try AgentStore(path: "\(config.dataDirectory)/agent.sqlite")
      #expect(try store.installed()["rootfs"] == nil)
    }
  }

  @Test("a failing health check switches back, reports the check's message and reboots into the old slot")
  func healthCheckFails() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try FakeBootloader(in: fleet.root)
      var config = try fleet.agentConfig("ab-unhealthy")
      config.abSlot = boot.config(healthCheck: [
        try TestScript.write("\(fleet.root)/health.sh", "echo 'gateway service is not running' >&2; exit 3")
      ])
      try fleet.startAgentProcess(config)
      let (deployment, _) = try await release(fleet, device: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      try boot.powerCycle()
      try fleet.startAgentProcess(config)
      // RolledBack needs a reboot into a: the agent exits again.
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(boot.next == "a")
      let device = try await waitFor(client, deployment.id, .rolledBack)
      #expect(device.error?.contains("gateway service is not running") == true)
      #expect(device.error?.contains("exited with status 3") == true)
    }
  }

  @Test("a successful update commits, and the operator's rollback boots the other slot again without a download")
  func operatorRollback() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try FakeBootloader(in: fleet.root)
      var config = try fleet.agentConfig("ab-operator")
      config.abSlot = boot.config()
      var versions: [(String, API.Deployment)] = []
      try fleet.startAgentProcess(config)
      for version in ["2.0.0", "3.0.0"] {
        let file = "\(fleet.root)/rootfs-\(version).img"
        try Data("image \(version)\n".utf8).write(to: URL(fileURLWithPath: file))
        _ = try await client.uploadRelease(package: "rootfs", version: version, file: file, handler: "ab-slot")
        try await ABBootloaderTests.checkedIn(client, config.deviceID)
        let deployment = try await client.createDeployment(
          .init(package: "rootfs", version: version, target: .init(devices: [config.deviceID])))
        #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
        try boot.powerCycle()
        try fleet.startAgentProcess(config)
        _ = try await waitFor(client, deployment.id, .successful)
        versions.append((version, deployment))
      }
      #expect(boot.booted == "a")  // a -> b (2.0.0) -> a (3.0.0)
      try await eventually("the inventory to show 3.0.0") {
        try await client.device(config.deviceID).device.installed["rootfs"] == "3.0.0"
      }

      var command = try await client.rollBack(device: config.deviceID, package: "rootfs", reason: "field reports")
      #expect(command.status == .sent)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      try boot.powerCycle()
      #expect(boot.booted == "b")
      try fleet.startAgentProcess(config)
      command = try await client.answer(to: command)
      #expect(command.status == .succeeded)
      #expect(command.message == "rolled rootfs back from 3.0.0 to 2.0.0")
      let device = try await waitFor(client, versions[1].1.id, .rolledBack)
      #expect(device.error == "operator rollback: field reports")
      try await eventually("the inventory to show 2.0.0") {
        try await client.device(config.deviceID).device.installed["rootfs"] == "2.0.0"
      }
    }
  }
}
