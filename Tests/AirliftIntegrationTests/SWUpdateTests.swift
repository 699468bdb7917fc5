import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// The `swupdate` handler with Debian's real SWUpdate: a signed `.swu`
/// written into the inactive loop-device slot by `swupdate -i` with the
/// selection for that slot, then the A/B flow on a U-Boot environment.
@Suite(
  "SWUpdate images into A/B slots (needs root and loop devices)",
  .enabled(if: LoopDevice.available, "needs root and loop devices"))
struct SWUpdateTests {
  /// A signed `.swu` holding `image`, with a `copy1` (slot a) and `copy2` (slot b) selection of `stable`.
  static func swu(
    in folder: String, image: String, a: LoopDevice, b: LoopDevice, version: String, hardware: String,
    certificate: String, key: String
  ) throws -> String {
    let work = "\(folder)/swu-\(version)"
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: image, toPath: "\(work)/rootfs.img")
    let sha = try BootStep.run(["sha256sum", "\(work)/rootfs.img"]).prefix(64)
    func copy(_ device: LoopDevice) -> String {
      #"images: ( { filename = "rootfs.img"; device = "\#(device.path)"; type = "raw"; sha256 = "\#(sha)"; } );"#
    }
    let description = """
      software =
      {
        version = "\(version)";
        hardware-compatibility: [ "\(hardware)" ];
        stable = {
          copy1 = { \(copy(a)) };
          copy2 = { \(copy(b)) };
        };
      }
      """
    try description.write(toFile: "\(work)/sw-description", atomically: true, encoding: .utf8)
    try BootStep.run([
      "openssl", "cms", "-sign", "-in", "\(work)/sw-description", "-out", "\(work)/sw-description.sig", "-signer",
      certificate, "-inkey", key, "-outform", "DER", "-nosmimecap", "-binary",
    ])
    // cpio in the newc-with-CRC form SWUpdate reads, sw-description first.
    let output = "\(folder)/update-\(version).swu"
    try BootStep.run(
      ["cpio", "-o", "-H", "crc", "-D", work, "-F", output], input: "sw-description\nsw-description.sig\nrootfs.img\n")
    return output
  }

  @Test(
    "a signed .swu goes into slot b through swupdate, boots on trial and commits; one for other hardware is refused by swupdate, nothing switched"
  )
  func installs() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let boot = try BootStep(in: fleet.root, kind: .uboot)
      try BootStep.run(["truncate", "-s", "4M", "\(fleet.root)/slot-a.img", "\(fleet.root)/slot-b.img"])
      let a = try LoopDevice("\(fleet.root)/slot-a.img")
      defer { a.detach() }
      let b = try LoopDevice("\(fleet.root)/slot-b.img")
      defer { b.detach() }
      let (certificate, key) = ("\(fleet.root)/swu-cert.pem", "\(fleet.root)/swu-key.pem")
      try BootStep.run([
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-subj",
        "/CN=airlift test images", "-days", "30",
      ])
      var config = try fleet.agentConfig("swu-1")
      var slots = boot.config(healthCheck: [try TestScript.write("\(fleet.root)/health.sh", "exit 0")])
      slots.slots = ["a": a.path, "b": b.path]
      config.abSlot = slots
      config.swupdate = SWUpdateConfig(
        publicKey: certificate, hardware: "gw-200:1.0", selections: ["a": "stable,copy1", "b": "stable,copy2"])
      try fleet.startAgentProcess(config)
      let image = "\(fleet.root)/rootfs.img"
      try Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 3) }).write(to: URL(fileURLWithPath: image))
      try await ABBootloaderTests.checkedIn(client, config.deviceID)
      let before = try boot.variables()

      // Built for revision 2.0 of the board: swupdate refuses it, the slot and the environment stay.
      let other = try Self.swu(
        in: fleet.root, image: image, a: a, b: b, version: "1.9.0", hardware: "2.0", certificate: certificate,
        key: key)
      _ = try await client.uploadRelease(package: "rootfs", version: "1.9.0", file: other, handler: "swupdate")
      let refused = try await client.createDeployment(
        .init(package: "rootfs", version: "1.9.0", target: .init(devices: [config.deviceID])))
      try await eventually("1.9.0 to end") {
        try await client.deployment(refused.id).devices.first?.state.isTerminal == true
      }
      let failed = try #require(try await client.deployment(refused.id).devices.first)
      #expect(failed.state == .failed)
      #expect(failed.error?.contains("without writing slot 'b'") == true, "\(failed.error ?? "")")
      #expect(try ABLoopDeviceTests.head(b.path, 4096) == Data(count: 4096))
      #expect(try boot.variables() == before)

      let good = try Self.swu(
        in: fleet.root, image: image, a: a, b: b, version: "2.0.0", hardware: "1.0", certificate: certificate,
        key: key)
      _ = try await client.uploadRelease(package: "rootfs", version: "2.0.0", file: good, handler: "swupdate")
      let deployment = try await client.createDeployment(
        .init(package: "rootfs", version: "2.0.0", target: .init(devices: [config.deviceID])))
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0)
      let written = try Data(contentsOf: URL(fileURLWithPath: image))
      #expect(try ABLoopDeviceTests.head(b.path, written.count) == written, "swupdate wrote slot b")
      // swupdate's steps, as it printed them, are the Installing stages.
      for stage in ["swupdate: signature verified", "swupdate: writing rootfs.img into slot b"] {
        _ = try await fleet.report(of: config.deviceID, in: deployment.id, stage) {
          $0.state == .installing && $0.stage == stage
        }
      }
      #expect(try boot.variables()["airlift_slot"] == "b" && boot.variables()["upgrade_available"] == "1")
      #expect(try boot.powerCycle() == "b")
      try fleet.startAgentProcess(config)
      try await eventually("2.0.0 to succeed") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
      #expect(try boot.variables()["airlift_good_slot"] == "b")
    }
  }
}
