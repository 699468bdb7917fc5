import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// The `ab-slot` handler with the bootloader integrations that ship with
/// the agent, on the real Debian tools and a file-backed environment: the
/// agent writes the environment, `BootStep.powerCycle()` plays the boot
/// script's part on it with the same tools.
@Suite("A/B slots with U-Boot and GRUB: trial boot, commit, fallback")
struct ABBootloaderTests {
  private func deploy(_ fleet: Fleet, device: String, version: String = "2.0.0") async throws -> (
    API.Deployment, Data
  ) {
    let client = try #require(fleet.client)
    let image = Data((0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ version.count) })
    let file = "\(fleet.root)/\(device)-\(version).img"
    try image.write(to: URL(fileURLWithPath: file))
    _ = try await client.uploadRelease(package: "rootfs", version: version, file: file, handler: "ab-slot")
    try await Self.checkedIn(client, device)
    let deployment = try await client.createDeployment(
      .init(package: "rootfs", version: version, target: .init(devices: [device])))
    return (deployment, image)
  }

  /// Waits until the controller knows `device` (its agent has checked in).
  static func checkedIn(_ client: ControllerClient, _ device: String) async throws {
    try await eventually("\(device) to check in") { (try? await client.device(device)) != nil }
  }

  private func state(_ client: ControllerClient, _ deployment: String, _ state: DeviceState) async throws
    -> API.DeviceProgress
  {
    try await eventually("the device to be \(state.rawValue)") {
      try await client.deployment(deployment).devices.first?.state == state
    }
    return try #require(try await client.deployment(deployment).devices.first)
  }

  @Test(
    "a good image: written to slot b, tried with the boot counter, committed after the health check",
    arguments: [BootloaderKind.uboot, .grub])
  func goodImage(_ kind: BootloaderKind) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: kind)
      var config = try fleet.agentConfig("ab-\(kind.rawValue)-good")
      config.abSlot = boot.config(healthCheck: [try TestScript.write("\(fleet.root)/health.sh", "exit 0")])
      try fleet.startAgentProcess(config)
      let (deployment, image) = try await deploy(fleet, device: config.deviceID)
      // Written and switched: the agent exits for the reboot (no rebootCommand).
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(boot.slot("b") == image)
      var values = try boot.variables()
      #expect(values["airlift_slot"] == "b" && values["upgrade_available"] == "1" && values["bootcount"] == "0")
      #expect(values["airlift_good_slot"] == "a" && values["bootlimit"] == "3")
      #expect(try boot.powerCycle() == "b")
      #expect(try boot.variables()["bootcount"] == "1")
      try fleet.startAgentProcess(config)
      _ = try await state(client, deployment.id, .successful)
      values = try boot.variables()
      #expect(values["airlift_good_slot"] == "b" && values["upgrade_available"] == "0" && values["bootcount"] == "0")
      // Committed: the next boots stay on b.
      #expect(try boot.powerCycle() == "b")
      #expect(try boot.powerCycle() == "b")
    }
  }

  @Test(
    "a failed health check makes slot a primary again, and the device reboots into it",
    arguments: [BootloaderKind.uboot, .grub])
  func unhealthy(_ kind: BootloaderKind) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: kind)
      var config = try fleet.agentConfig("ab-\(kind.rawValue)-sick")
      config.abSlot = boot.config(healthCheck: [
        try TestScript.write("\(fleet.root)/health.sh", "echo 'the gateway service is down' >&2; exit 4")
      ])
      try fleet.startAgentProcess(config)
      let (deployment, _) = try await deploy(fleet, device: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(try boot.powerCycle() == "b")
      try fleet.startAgentProcess(config)
      // The rollback needs a reboot into a: the agent exits again.
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      let values = try boot.variables()
      #expect(values["airlift_slot"] == "a" && values["airlift_good_slot"] == "a" && values["upgrade_available"] == "0")
      #expect(try boot.powerCycle() == "a")
      let device = try await state(client, deployment.id, .rolledBack)
      #expect(device.error?.contains("the gateway service is down") == true, "\(device.error ?? "")")
    }
  }

  @Test(
    "a slot that never comes up: the boot counter passes the limit, the bootloader boots slot a, the agent reports RolledBack",
    arguments: [BootloaderKind.uboot, .grub])
  func bootLoop(_ kind: BootloaderKind) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: kind)
      var config = try fleet.agentConfig("ab-\(kind.rawValue)-loop")
      config.abSlot = boot.config()
      try fleet.startAgentProcess(config)
      let (deployment, _) = try await deploy(fleet, device: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      // Three boots into b that hang before the agent starts (bootlimit 3), then the fourth falls back.
      for count in 1...3 {
        #expect(try boot.powerCycle() == "b")
        #expect(try boot.variables()["bootcount"] == "\(count)")
      }
      #expect(try boot.powerCycle() == "a")
      #expect(try boot.variables()["upgrade_available"] == "0")
      try fleet.startAgentProcess(config)
      let device = try await state(client, deployment.id, .rolledBack)
      #expect(
        device.error?.contains("the device booted slot 'a', not the new slot 'b'") == true, "\(device.error ?? "")")
      let store = try AgentStore(path: "\(config.dataDirectory)/agent.sqlite")
      #expect(try store.installed()["rootfs"] == nil)
      #expect(try boot.variables()["airlift_good_slot"] == "a")
    }
  }

  @Test(
    "a new version that passes its health check but cannot reach the controller is not committed: slot a again, RolledBack reported once it can (MQTT, and a polling device over HTTPS)",
    arguments: [DeviceTransport.mqtt, .https])
  func unreachableController(_ transport: DeviceTransport) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: .uboot)
      var config =
        transport == .https
        ? try PollingDeviceTests.pollingConfig(fleet, "ab-unreachable-poll")
        : try fleet.agentConfig("ab-unreachable")
      config.abSlot = boot.config(healthCheck: [try TestScript.write("\(fleet.root)/health.sh", "exit 0")])
      config.commitTimeout = 3
      try fleet.startAgentProcess(config)
      let (deployment, _) = try await deploy(fleet, device: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(try boot.powerCycle() == "b")
      // The new version's network is broken: the broker it is given does not answer.
      var cutOff = config
      if transport == .https {
        cutOff.controllerURL = "https://127.0.0.1:\(try Loopback.freePort())"
      } else {
        cutOff.brokerURL = "mqtts://127.0.0.1:\(try Loopback.freePort())"
      }
      try fleet.startAgentProcess(cutOff)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0, "it rolls back and reboots into slot a")
      let values = try boot.variables()
      #expect(values["airlift_slot"] == "a" && values["airlift_good_slot"] == "a" && values["upgrade_available"] == "0")
      #expect(try boot.powerCycle() == "a")
      try fleet.startAgentProcess(config)
      let device = try await state(client, deployment.id, .rolledBack)
      #expect(
        device.error?.contains("the controller was not reached within 3 s of the new version's start") == true,
        "\(device.error ?? "")")
    }
  }

  @Test(
    "the operator's rollback makes the other slot primary in the environment, and the device boots the old version",
    arguments: [BootloaderKind.uboot, .grub])
  func operatorRollback(_ kind: BootloaderKind) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: kind)
      var config = try fleet.agentConfig("ab-\(kind.rawValue)-back")
      config.abSlot = boot.config()
      try fleet.startAgentProcess(config)
      // 2.0.0 into b, then 3.0.0 into a: the rollback goes back to b.
      for (version, slot) in [("2.0.0", "b"), ("3.0.0", "a")] {
        let (deployment, _) = try await deploy(fleet, device: config.deviceID, version: version)
        #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
        #expect(try boot.powerCycle() == slot)
        try fleet.startAgentProcess(config)
        _ = try await state(client, deployment.id, .successful)
      }
      try await eventually("the inventory to show 3.0.0") {
        try await client.device(config.deviceID).device.installed["rootfs"] == "3.0.0"
      }

      var command = try await client.rollBack(device: config.deviceID, package: "rootfs", reason: "field reports")
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      let values = try boot.variables()
      #expect(values["airlift_slot"] == "b" && values["airlift_good_slot"] == "b" && values["upgrade_available"] == "0")
      #expect(try boot.powerCycle() == "b")
      try fleet.startAgentProcess(config)
      command = try await client.answer(to: command)
      #expect(command.status == .succeeded, "\(command.message ?? "")")
      #expect(command.message == "rolled rootfs back from 3.0.0 to 2.0.0")
    }
  }

  @Test(
    "a tampered or truncated image is never written to a slot nor switched to: the environment stays as it was",
    arguments: [BootloaderKind.uboot, .grub])
  func damagedImage(_ kind: BootloaderKind) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: kind)
      var config = try fleet.agentConfig("ab-\(kind.rawValue)-bad")
      config.abSlot = boot.config()
      config.maxAttempts = 1
      try fleet.startAgentProcess(config)
      let before = try boot.variables()
      for (version, damage) in [("2.0.0", "tampered"), ("3.0.0", "truncated")] {
        let file = "\(fleet.root)/\(version).img"
        try Data((0..<120_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: file))
        let release = try await client.uploadRelease(
          package: "rootfs", version: version, file: file, handler: "ab-slot")
        let blob = "\(fleet.root)/controller/blobs/\(try #require(release.assets.first).sha256)"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
        if damage == "tampered" { bytes[bytes.count / 2] ^= 0xff } else { bytes = bytes.prefix(bytes.count / 2) }
        try bytes.write(to: URL(fileURLWithPath: blob))
        try await Self.checkedIn(client, config.deviceID)
        let deployment = try await client.createDeployment(
          .init(package: "rootfs", version: version, target: .init(devices: [config.deviceID])))
        let device = try await state(client, deployment.id, .failed)
        #expect(device.error != nil, "\(damage)")
        #expect(boot.slot("b") == nil, "\(damage): slot b was written")
        #expect(try boot.variables() == before, "\(damage): the environment changed")
      }
    }
  }

  @Test("an ab-slot config that cannot work is refused when the agent reads it, saying what to fix")
  func configRefused() throws {
    let decoder = JSONDecoder()
    func refusal(_ abSlot: String) -> String {
      let json = """
        {"deviceID": "d-1", "brokerURL": "mqtts://127.0.0.1:1", "controllerURL": "https://127.0.0.1:2",
         "certificate": "c", "key": "k", "caFile": "ca", "dataDirectory": "/tmp/d", "installDirectory": "/tmp/i",
         "abSlot": \(abSlot)}
        """
      do {
        _ = try decoder.decode(AgentConfig.self, from: Data(json.utf8))
        return "accepted"
      } catch {
        return "\(error)"
      }
    }
    #expect(
      refusal(#"{"slots": {"a": "/x", "b": "/y"}, "bootloader": "uboot", "bootLimit": 0}"#).contains("bootLimit is 0"))
    #expect(refusal(#"{"slots": {"a": "/x", "b": "/y"}}"#).contains("needs bootedSlotCommand and switchCommand"))
    #expect(refusal(#"{"slots": {"a": "/x"}, "bootloader": "grub"}"#).contains("exactly two slots"))
    #expect(refusal(#"{"slots": {"a": "/x", "b": "/y"}, "bootloader": "lilo"}"#).contains("lilo"))
    #expect(refusal(#"{"slots": {"a": "/x", "b": "/y"}, "bootloader": "grub"}"#) == "accepted")
  }
}
