import AirliftAgent
import AirliftClient
import AirliftCore
import AirliftCrypto
import AirliftMQTT
import Foundation
import Testing

/// The attacks an updater must refuse (docs/security.md), against a real
/// agent: notices are forged with the controller's own broker identity, as
/// whoever took over the controller or its database could.
@Suite("Signed releases: what a device refuses")
struct SignedReleaseTests {
  /// Publishes `notice` as the device's retained deployment, as the controller would.
  static func forge(_ notice: DeploymentNotice, to device: String, fleet: Fleet) async throws {
    let mqtt = try fleet.controllerMQTT(clientID: "forger-\(UUID().uuidString.prefix(6))")
    try await mqtt.connect()
    try await mqtt.publish(
      Topics.device(try DeviceID(device), .deployment), payload: Wire.encode(notice), qos: 1, retain: true)
    await mqtt.close()
  }

  static func notice(
    _ id: String, for release: API.Release, manifest: SignedManifest?, fleet: Fleet, extra: [API.Asset] = []
  ) -> DeploymentNotice {
    DeploymentNotice(
      deployment: id, release: ReleaseRef(package: release.package, version: release.version),
      handler: release.handler,
      artifacts: (release.assets + extra).map {
        ArtifactRef(
          name: $0.name, url: "\(fleet.controllerURL)/artifacts/\($0.sha256)", size: $0.size, sha256: $0.sha256)
      }, manifest: manifest)
  }

  /// The device's last report for a deployment the controller never made (it keeps them anyway).
  static func outcome(_ deployment: String, device: String, fleet: Fleet) async throws -> StatusReport {
    let store = try #require(fleet.controller?.store)
    try await eventually("\(device) to end \(deployment)") {
      try await store.statusEvents(deployment: deployment, device: DeviceID(device)).last?.state.isTerminal == true
    }
    return try await #require(try store.statusEvents(deployment: deployment, device: DeviceID(device)).last)
  }

  @Test(
    "unsigned, untrusted key, tampered manifest, mix-and-match assets, expired: refused before download, install never runs"
  )
  func refusesForgedReleases() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("sec-1")
      try await fleet.startAgent(config)
      let runs = "\(config.installDirectory)/runs.log"
      func installs() -> Int {
        ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
      }
      let v1 = try await client.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root, name: "app.tar.gz"))
      let v2 = try await client.uploadRelease(
        package: "app", version: "2.0.0",
        file: try ReleaseBundle.make(
          in: fleet.root, name: "app.tar.gz", install: ReleaseBundle.recordingInstall + "\n# 2.0.0\n"))
      #expect(v1.assets[0].name == v2.assets[0].name && v1.assets[0].sha256 != v2.assets[0].sha256)
      let other = try await client.uploadRelease(
        package: "other", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root, name: "other.tar.gz"))
      let signedV2 = try await client.signedManifest(package: "app", version: "2.0.0")

      // Control: a replayed notice with a genuine signature installs (so the refusals below are the checks').
      try await Self.forge(
        Self.notice(
          "dep-sec-ok", for: v1, manifest: try await client.signedManifest(package: "app", version: "1.0.0"),
          fleet: fleet), to: "sec-1", fleet: fleet)
      #expect(try await Self.outcome("dep-sec-ok", device: "sec-1", fleet: fleet).state == .successful)
      #expect(installs() == 1)

      var tampered = signedV2
      tampered.manifest.handler = "directory"
      var tamperedNotice = Self.notice("dep-sec-tampered", for: v2, manifest: tampered, fleet: fleet)
      tamperedNotice.handler = "directory"
      var swapped = Self.notice("dep-sec-swap", for: v2, manifest: signedV2, fleet: fleet)
      swapped.artifacts[0].sha256 = v1.assets[0].sha256
      swapped.artifacts[0].url = "\(fleet.controllerURL)/artifacts/\(v1.assets[0].sha256)"
      // The controller keeps the expiry a release is signed with...
      let resigned = try await client.signRelease(
        package: "app", version: "2.0.0", key: try fleet.signingKey, expires: Date() + 3600)
      #expect(
        resigned.signature?.expires
          == (try await client.signedManifest(package: "app", version: "2.0.0")).manifest.expires)
      // ...and a device refuses a manifest whose expiry has passed by its clock (signed here with the release key:
      // the controller would not hand out an expired one).
      var lapsed = signedV2.manifest
      lapsed.expires = ReleaseManifest.formatExpiry(Date() - 60)
      let soonExpired = try fleet.signingKey.sign(lapsed)
      let stranger = try ReleaseSigningKey.generate()

      let cases: [(DeploymentNotice, String)] = [
        (Self.notice("dep-sec-unsigned", for: v2, manifest: nil, fleet: fleet), "not signed"),
        (
          Self.notice("dep-sec-stranger", for: v2, manifest: try stranger.sign(signedV2.manifest), fleet: fleet),
          "which this device does not trust"
        ),
        (tamperedNotice, "does not match the manifest"),
        (
          Self.notice("dep-sec-mix", for: v2, manifest: signedV2, fleet: fleet, extra: other.assets),
          "asset 'other.tar.gz' is not listed in the signed manifest"
        ),
        (swapped, "differs from the signed manifest"),
      ]
      let all = cases + [(Self.notice("dep-sec-expired", for: v2, manifest: soonExpired, fleet: fleet), "expired at")]
      for (notice, reason) in all {
        try await Self.forge(notice, to: "sec-1", fleet: fleet)
        let report = try await Self.outcome(notice.deployment, device: "sec-1", fleet: fleet)
        #expect(report.state == .failed, "\(notice.deployment)")
        #expect(report.error?.contains(reason) == true, "\(notice.deployment): \(report.error ?? "no error")")
      }
      #expect(installs() == 1)
      #expect(try await client.devices().first { $0.id == "sec-1" }?.installed["app"] == "1.0.0")
    }
  }

  @Test("an older version is refused unless its manifest is signed for a downgrade and the deployment asks for one")
  func refusesRollbackAttack() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("sec-2"))
      for version in ["1.0.0", "1.1.0"] {
        _ = try await client.uploadRelease(
          package: "app", version: version, file: try ReleaseBundle.make(in: fleet.root, name: "\(version).tar.gz"))
      }
      func deploy(_ version: String, downgrade: Bool = false) async throws -> API.DeviceProgress {
        var request = API.CreateDeployment(package: "app", version: version, target: .init(devices: ["sec-2"]))
        request.downgrade = downgrade
        let deployment = try await client.createDeployment(request)
        try await eventually("\(version) to finish") { try await client.deployment(deployment.id).status == .completed }
        return try #require(try await client.deployment(deployment.id).devices.first)
      }
      #expect(try await deploy("1.1.0").state == .successful)
      let refused = try await deploy("1.0.0")
      #expect(refused.state == .failed)
      #expect(refused.error?.contains("1.0.0 is older than the installed 1.1.0") == true)
      // The operator asks for a downgrade, but the signer did not allow one: refused before any device tries.
      await #expect {
        _ = try await deploy("1.0.0", downgrade: true)
      } throws: { "\($0)".contains("downgrade_not_signed") && "\($0)".contains("--allow-downgrade") }

      _ = try await client.signRelease(
        package: "app", version: "1.0.0", key: try fleet.signingKey, expires: Date() + 3600, downgrade: true)
      // Signed for a downgrade, but a plain deployment: refused.
      #expect(try await deploy("1.0.0").state == .failed)
      #expect(try await deploy("1.0.0", downgrade: true).state == .successful)
      try await eventually("the inventory to show 1.0.0") {
        try await client.devices().first { $0.id == "sec-2" }?.installed["app"] == "1.0.0"
      }
    }
  }

  @Test("a server that sends more than the manifest says is cut at the declared size, and the update fails")
  func endlessData() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("sec-3")
      try await fleet.startAgent(config)
      let release = try await client.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let digest = try #require(release.assets.first?.sha256)
      let blob = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(fleet.root)/controller/blobs/\(digest)"))
      try blob.seekToEnd()
      try blob.write(contentsOf: Data(repeating: 0x41, count: 1 << 20))
      try blob.close()
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["sec-3"])))
      try await eventually("the device to fail") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
      let error = try #require(try await client.deployment(deployment.id).devices.first?.error)
      #expect(error.contains("expected \(release.assets[0].size) bytes"), "\(error)")
      #expect(!FileManager.default.fileExists(atPath: "\(config.installDirectory)/runs.log"))
    }
  }

  @Test("the controller refuses to deploy an unsigned release, and a signature for different assets")
  func controllerRefusesUnsigned() async throws {
    try await Fleet.with { fleet in
      let plain = try ControllerClient(
        baseURL: fleet.controllerURL, caFile: "\(fleet.certs)/ca.crt", certificate: "\(fleet.certs)/operator.crt",
        key: "\(fleet.certs)/operator.key")
      defer { Task { await plain.shutdown() } }
      try await fleet.startAgent(try fleet.agentConfig("sec-4"))
      let release = try await plain.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      #expect(release.signature == nil)
      await #expect {
        _ = try await plain.createDeployment(.init(package: "app", version: "1.0.0", target: .init(devices: ["sec-4"])))
      } throws: { "\($0)".contains("release_unsigned") && "\($0)".contains("airlift release sign app@1.0.0") }
      var manifest = ReleaseManifest(
        package: "app", version: "1.0.0", handler: "script", expires: ReleaseManifest.formatExpiry(Date() + 600),
        assets: release.assets.map { .init(name: $0.name, size: $0.size + 1, sha256: $0.sha256) })
      await #expect {
        _ = try await plain.uploadSignature(try fleet.signingKey.sign(manifest))
      } throws: { "\($0)".contains("manifest_mismatch") }
      manifest.assets[0].size -= 1
      manifest.expires = ReleaseManifest.formatExpiry(Date() - 60)
      await #expect {
        _ = try await plain.uploadSignature(try fleet.signingKey.sign(manifest))
      } throws: { "\($0)".contains("invalid_manifest") && "\($0)".contains("expired") }
      manifest.expires = ReleaseManifest.formatExpiry(Date() + 600)
      let signed = try await plain.uploadSignature(try fleet.signingKey.sign(manifest))
      #expect(signed.signature?.key == (try fleet.signingKey.publicKey.id))
      #expect(signed.signature?.signedBy == "airlift-operator")
      let deployment = try await plain.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["sec-4"])))
      try await eventually("it to install") { try await plain.deployment(deployment.id).status == .completed }
      #expect(try await plain.deployment(deployment.id).devices.first?.state == .successful)
    }
  }
}
