import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// `abSlot.stream`: the image goes from HTTPS straight into the inactive
/// slot, hashed as it is written, with no copy on the data disk; a cut
/// stream goes on from the bytes the slot already holds.
@Suite("A/B images streamed into the slot")
struct ABStreamTests {
  static func image(_ bytes: Int, seed: UInt8) -> Data {
    Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(seed)) &+ UInt8(truncatingIfNeeded: $0 >> 12) })
  }

  /// Files of the agent's data folder as large as `size` or larger (a copy of the image would be one).
  static func copies(in folder: String, size: Int) -> [String] {
    let files = FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? []
    return files.filter {
      ((try? FileManager.default.attributesOfItem(atPath: "\(folder)/\($0)")[.size] as? NSNumber)?.intValue ?? 0)
        >= size
    }
  }

  @Test(
    "the image is written into slot b as it arrives, never to the data disk; read back, tried, committed — asked for, or because the data disk has no room for it",
    arguments: [true, false])
  func streams(_ asked: Bool) async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: .uboot)
      var config = try fleet.agentConfig("ab-stream")
      config.abSlot = boot.config()
      if asked {
        config.abSlot?.stream = true
      } else {
        // Not asked: the disk must keep more free than it has, so no image fits on it.
        config.reservedDiskSpace = 1 << 50
      }
      try fleet.startAgentProcess(config)
      let image = Self.image(3 << 20, seed: 1)
      let file = "\(fleet.root)/rootfs-2.img"
      try image.write(to: URL(fileURLWithPath: file))
      _ = try await client.uploadRelease(package: "rootfs", version: "2.0.0", file: file, handler: "ab-slot")
      try await ABBootloaderTests.checkedIn(client, config.deviceID)
      let deployment = try await client.createDeployment(
        .init(package: "rootfs", version: "2.0.0", target: .init(devices: [config.deviceID])))
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      #expect(boot.slot("b") == image)
      #expect(Self.copies(in: config.dataDirectory, size: image.count).isEmpty, "no copy of the image on the data disk")
      // The reports reach the controller on their own time: the stage of the stream is among them.
      try await eventually("the stream's report") {
        let reports = try await #require(fleet.controller?.store).statusEvents(
          deployment: deployment.id, device: DeviceID(config.deviceID))
        return reports.contains { ($0.stage ?? "").contains("as it arrives") }
      }
      // Streamed, the slot is read back before the switch, its bytes reported as Installing.
      _ = try await fleet.report(of: config.deviceID, in: deployment.id, "the slot read back to the end") {
        $0.state == .installing && $0.stage == "checking slot b" && $0.bytes == Int64(image.count)
      }
      #expect(try boot.variables()["airlift_slot"] == "b")
      #expect(try boot.powerCycle() == "b")
      try fleet.startAgentProcess(config)
      try await eventually("2.0.0 to succeed") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
    }
  }

  @Test("killed mid-stream, the agent goes on from the bytes the slot holds: fetched about once, installed once")
  func resumesAfterKill() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let metrics = try #require(fleet.controller?.metrics)
      let boot = try BootStep(in: fleet.root, kind: .grub)
      var config = try fleet.agentConfig("ab-stream-kill")
      config.abSlot = boot.config()
      config.abSlot?.stream = true
      config.maxBytesPerSecond = 1_000_000
      try fleet.startAgentProcess(config)
      let image = Self.image(12 << 20, seed: 2)
      let file = "\(fleet.root)/rootfs-2.img"
      try image.write(to: URL(fileURLWithPath: file))
      _ = try await client.uploadRelease(package: "rootfs", version: "2.0.0", file: file, handler: "ab-slot")
      try await ABBootloaderTests.checkedIn(client, config.deviceID)
      let served = metrics.artifactBytesServed
      let deployment = try await client.createDeployment(
        .init(package: "rootfs", version: "2.0.0", target: .init(devices: [config.deviceID])))
      // Past the first checkpoint (4 MiB), as the slot itself shows (the controller hears of it later): kill -9.
      let slotB = "\(boot.folder)/b.img"
      try await eventually("the stream to pass 5 MiB") {
        ((try? FileManager.default.attributesOfItem(atPath: slotB)[.size] as? NSNumber)?.intValue ?? 0) >= 5 << 20
      }
      await fleet.killAgentProcess(config.deviceID)
      let servedBeforeKill = metrics.artifactBytesServed - served
      #expect((boot.slot("b")?.count ?? 0) >= 4 << 20, "the slot holds the written part")
      try fleet.startAgentProcess(config)
      #expect(try await fleet.waitForAgentExit(config.deviceID, within: 120) == 0)
      #expect(boot.slot("b") == image)
      // The restart went on from a checkpoint (every 4 MiB), and fetched only what came after it.
      try await eventually("the resumed stream's report") {
        let reports = try await #require(fleet.controller?.store).statusEvents(
          deployment: deployment.id, device: DeviceID(config.deviceID))
        return reports.contains { ($0.stage ?? "").contains("resumed at") }
      }
      let reports = try await #require(fleet.controller?.store).statusEvents(
        deployment: deployment.id, device: DeviceID(config.deviceID))
      let resumed = try #require(
        reports.lazy.compactMap { $0.stage }.compactMap { stage -> Int64? in
          guard let range = stage.range(of: "resumed at ") else { return nil }
          return Int64(stage[range.upperBound...].prefix { $0.isNumber })
        }.first, "\(reports.compactMap(\.stage))")
      #expect(resumed >= 4 << 20, "resumed at \(resumed)")
      // What the controller had in flight when the agent died is counted a moment after the kill, so it lands
      // in "second": up to a few socket buffers (128 KiB once), never a restart from zero.
      let second = metrics.artifactBytesServed - served - servedBeforeKill
      let remaining = Int64(image.count) - resumed
      #expect(
        second >= remaining && second <= remaining + (512 << 10),
        "the second transfer served \(second) bytes for the \(remaining) after \(resumed)")
      #expect(try boot.powerCycle() == "b")
      try fleet.startAgentProcess(config)
      try await eventually("2.0.0 to succeed") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
    }
  }

  @Test("a tampered image streamed into the slot fails its SHA-256 and is never switched to")
  func tampered() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: .uboot)
      var config = try fleet.agentConfig("ab-stream-bad")
      config.abSlot = boot.config()
      config.abSlot?.stream = true
      config.maxAttempts = 1
      try fleet.startAgentProcess(config)
      let file = "\(fleet.root)/rootfs-2.img"
      try Self.image(1 << 20, seed: 3).write(to: URL(fileURLWithPath: file))
      let release = try await client.uploadRelease(
        package: "rootfs", version: "2.0.0", file: file, handler: "ab-slot")
      let blob = "\(fleet.root)/controller/blobs/\(try #require(release.assets.first).sha256)"
      var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
      bytes[bytes.count - 10] ^= 0x01
      try bytes.write(to: URL(fileURLWithPath: blob))
      let before = try boot.variables()
      try await ABBootloaderTests.checkedIn(client, config.deviceID)
      let deployment = try await client.createDeployment(
        .init(package: "rootfs", version: "2.0.0", target: .init(devices: [config.deviceID])))
      try await eventually("the update to end") {
        try await client.deployment(deployment.id).devices.first?.state.isTerminal == true
      }
      let device = try #require(try await client.deployment(deployment.id).devices.first)
      #expect(device.state == .failed)
      #expect(device.error?.contains("SHA-256") == true, "\(device.error ?? "")")
      #expect(try boot.variables() == before, "never switched")
    }
  }
}
