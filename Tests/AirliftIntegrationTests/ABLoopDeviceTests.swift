import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// A loop device: a file the kernel shows as a block device (needs root and /dev/loop-control; .ci/run has both).
struct LoopDevice {
  let path: String

  static var available: Bool {
    getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/loop-control")
  }

  /// Attaches `file` to the first free loop device.
  init(_ file: String) throws {
    path = try BootStep.run(["losetup", "-f", "--show", file]).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func detach() { _ = try? BootStep.run(["losetup", "-d", path]) }
}

/// The `ab-slot` handler writing real block devices (loop devices over
/// files), with the U-Boot integration: it writes only the inactive slot,
/// and refuses a mounted slot or one the image does not fit.
@Suite(
  "A/B slots on loop devices (needs root and loop devices)",
  .enabled(if: LoopDevice.available, "needs root and loop devices"))
struct ABLoopDeviceTests {
  /// An ext4 filesystem image of `megabytes` MiB holding a `version` file.
  static func ext4(_ root: String, _ name: String, version: String, megabytes: Int) throws -> String {
    let tree = "\(root)/\(name).tree"
    try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
    try "\(version)\n".write(toFile: "\(tree)/version", atomically: true, encoding: .utf8)
    let image = "\(root)/\(name)"
    try BootStep.run(["mkfs.ext4", "-q", "-F", "-d", tree, image, "\(megabytes)M"])
    return image
  }

  /// Starts agent `id` with slots `a` and `b` and `boot`'s bootloader.
  static func start(_ fleet: Fleet, _ id: String, _ boot: BootStep, a: LoopDevice, b: LoopDevice) throws
    -> AgentConfig
  {
    var config = try fleet.agentConfig(id)
    var slots = boot.config()
    slots.slots = ["a": a.path, "b": b.path]
    config.abSlot = slots
    try fleet.startAgentProcess(config)
    return config
  }

  /// An ext4 image of `version` (4 MiB), released and deployed to `device`; the image's path and the deployment.
  static func deploy(_ fleet: Fleet, _ client: ControllerClient, version: String, to device: String) async throws
    -> (String, API.Deployment)
  {
    let image = try ext4(fleet.root, "rootfs-\(version).img", version: version, megabytes: 4)
    _ = try await client.uploadRelease(package: "rootfs", version: version, file: image, handler: "ab-slot")
    try await ABBootloaderTests.checkedIn(client, device)
    let deployment = try await client.createDeployment(
      .init(package: "rootfs", version: version, target: .init(devices: [device])))
    return (image, deployment)
  }

  static func head(_ path: String, _ count: Int) throws -> Data {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    return try handle.read(upToCount: count) ?? Data()
  }

  @Test(
    "the image goes to the inactive block device and boots; a mounted inactive slot is refused and left as it was")
  func writesTheInactiveDevice() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: .uboot)
      let a = try LoopDevice(try Self.ext4(fleet.root, "slot-a.img", version: "0", megabytes: 8))
      defer { a.detach() }
      try BootStep.run(["truncate", "-s", "8M", "\(fleet.root)/slot-b.img"])
      let b = try LoopDevice("\(fleet.root)/slot-b.img")
      defer { b.detach() }
      let config = try Self.start(fleet, "ab-loop-dev", boot, a: a, b: b)
      let (image, second) = try await Self.deploy(fleet, client, version: "2.0.0", to: config.deviceID)
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      let written = try Data(contentsOf: URL(fileURLWithPath: image))
      #expect(try Self.head(b.path, written.count) == written, "slot b holds the image")
      // The install reports its bytes: the slot written, then read back, each to the image's size.
      for stage in ["writing slot b", "checking slot b"] {
        let done = try await fleet.report(of: config.deviceID, in: second.id, "\(stage) to the end") {
          $0.state == .installing && $0.stage == stage && $0.bytes == Int64(written.count)
        }
        #expect(done.total == Int64(written.count) && done.percent == 100)
      }
      #expect(try boot.powerCycle() == "b")
      try fleet.startAgentProcess(config)
      try await eventually("2.0.0 to succeed") {
        try await client.deployment(second.id).devices.first?.state == .successful
      }

      // Slot a is now the inactive one; mounted, it is not written.
      let mountPoint = "\(fleet.root)/mnt-a"
      try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
      try BootStep.run(["mount", "-o", "ro", a.path, mountPoint])
      defer { _ = try? BootStep.run(["umount", mountPoint]) }
      let before = try Self.head(a.path, 1 << 20)
      let (_, refused) = try await Self.deploy(fleet, client, version: "3.0.0", to: config.deviceID)
      try await eventually("3.0.0 to fail") {
        try await client.deployment(refused.id).devices.first?.state.isTerminal == true
      }
      let device = try #require(try await client.deployment(refused.id).devices.first)
      #expect(device.state == .failed)
      #expect(
        device.error?.contains("slot 'a' (\(a.path)) is mounted at \(mountPoint)") == true, "\(device.error ?? "")")
      #expect(try Self.head(a.path, 1 << 20) == before, "the mounted slot was not written")
      #expect(try boot.variables()["airlift_slot"] == "b" && boot.variables()["upgrade_available"] == "0")
    }
  }

  @Test("an image larger than the inactive slot is refused before a byte is written")
  func tooSmall() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: .grub)
      try BootStep.run(["truncate", "-s", "8M", "\(fleet.root)/slot-a.img"])
      try BootStep.run(["truncate", "-s", "2M", "\(fleet.root)/slot-b.img"])
      let a = try LoopDevice("\(fleet.root)/slot-a.img")
      defer { a.detach() }
      let b = try LoopDevice("\(fleet.root)/slot-b.img")
      defer { b.detach() }
      let config = try Self.start(fleet, "ab-loop-small", boot, a: a, b: b)
      let (_, deployment) = try await Self.deploy(fleet, client, version: "2.0.0", to: config.deviceID)
      try await eventually("the update to end") {
        try await client.deployment(deployment.id).devices.first?.state.isTerminal == true
      }
      let device = try #require(try await client.deployment(deployment.id).devices.first)
      #expect(device.state == .failed)
      #expect(
        device.error?.contains("slot 'b' (\(b.path)) holds 2097152 bytes, the image has 4194304") == true,
        "\(device.error ?? "")")
      #expect(try Self.head(b.path, 2 << 20) == Data(count: 2 << 20), "nothing was written")
      #expect(try boot.variables()["upgrade_available"] == "0" && boot.variables()["airlift_slot"] == "a")
    }
  }
}
