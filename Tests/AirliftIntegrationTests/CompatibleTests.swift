import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// A release for some hardware (`--compatible`), signed with it: the
/// controller refuses to deploy it to devices that said they are other
/// hardware, and an agent refuses it before downloading.
@Suite("Hardware compatibility: the signed compatible list, the device's compatible")
struct CompatibleTests {
  @Test(
    "a gw-200 release: refused for a gw-100 device by name, refused by a device that names no hardware before a byte is fetched, installed on gw-200"
  )
  func compatibility() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let metrics = try #require(fleet.controller?.metrics)
      for (id, compatible) in [("hw-200", "gw-200"), ("hw-100", "gw-100"), ("hw-none", nil)] {
        var config = try fleet.agentConfig(id)
        config.compatible = compatible
        try await fleet.startAgent(config)
      }
      try await eventually("the devices to report their hardware") {
        let (low, high) = (try await client.device("hw-100"), try await client.device("hw-200"))
        return low.device.compatible == "gw-100" && high.device.compatible == "gw-200"
      }
      let bundle = try ReleaseBundle.make(
        in: fleet.root, name: "fw.tar", install: ReleaseBundle.recordingInstall, payload: Array("fw".utf8),
        compressed: false)
      let blob = try await client.uploadBlob(file: bundle)
      let release = try await client.createRelease(
        .init(
          package: "fw", version: "2.0.0", assets: [.init(name: "fw.tar", sha256: blob.sha256)],
          compatible: ["gw-200", "gw-300"]))
      #expect(release.compatible == ["gw-200", "gw-300"])
      #expect(
        try await client.signedManifest(package: "fw", version: "2.0.0").manifest.compatible?.sorted() == [
          "gw-200", "gw-300",
        ])
      let (listed, table) = try await UpdateFlowIntegrationTests.airlift(fleet, ["device", "list"])
      #expect(listed == 0 && table.contains("COMPATIBLE") && table.contains("gw-100"), "\(table)")

      // The controller names the device of other hardware and creates nothing.
      do {
        _ = try await client.createDeployment(
          .init(package: "fw", version: "2.0.0", target: .init(devices: ["hw-200", "hw-100"])))
        Issue.record("a deployment to a gw-100 device was created")
      } catch {
        #expect("\(error)".contains("incompatible_devices"), "\(error)")
        #expect("\(error)".contains("hw-100 (gw-100)"), "\(error)")
      }
      #expect(try await client.deployments().isEmpty)

      // A device that said nothing: the controller lets it decide, and it refuses before downloading.
      let served = metrics.artifactBytesServed
      let blind = try await client.createDeployment(
        .init(package: "fw", version: "2.0.0", target: .init(devices: ["hw-none"])))
      try await eventually("hw-none to refuse") {
        try await client.deployment(blind.id).devices.first?.state.isTerminal == true
      }
      let refused = try #require(try await client.deployment(blind.id).devices.first)
      #expect(refused.state == .failed)
      #expect(
        refused.error?.contains("refused before downloading: the release is for gw-200, gw-300 (signed)") == true,
        "\(refused.error ?? "")")
      #expect(metrics.artifactBytesServed == served, "no byte of the release was fetched")
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: blind.id, device: DeviceID("hw-none"))
      #expect(!events.contains { $0.state == .downloading })

      let fitting = try await client.createDeployment(
        .init(package: "fw", version: "2.0.0", target: .init(devices: ["hw-200"])))
      try await eventually("hw-200 to install") {
        try await client.deployment(fitting.id).devices.first?.state == .successful
      }
    }
  }

  @Test("a manifest signed without the release's compatible list is refused by the controller")
  func signedListMustMatch() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let file = "\(fleet.root)/fw.bin"
      try Data("fw".utf8).write(to: URL(fileURLWithPath: file))
      let blob = try await client.uploadBlob(file: file)
      let release = try await client.createRelease(
        .init(
          package: "fw", version: "1.0.0", assets: [.init(name: "fw.bin", sha256: blob.sha256)], compatible: ["gw-200"])
      )
      var manifest = try await client.signedManifest(package: "fw", version: "1.0.0")
      #expect(manifest.manifest.compatible == ["gw-200"])
      manifest.manifest.compatible = nil
      do {
        _ = try await client.uploadSignature(manifest)
        Issue.record("a manifest without the compatible list was stored")
      } catch {
        #expect("\(error)".contains("compatible"), "\(error)")
      }
      #expect(release.signature != nil)
    }
  }
}
