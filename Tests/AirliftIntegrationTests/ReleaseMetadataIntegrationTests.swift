import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// Metadata documents with a real controller, the CLI, an agent and the dashboard.
@Suite("Metadata on versions: attached by the CLI, read by operators, devices and the dashboard")
struct ReleaseMetadataIntegrationTests {
  static let spdx =
    #"{"spdxVersion": "SPDX-2.3", "name": "app-1.0.0", "packages": [{"name": "busybox", "versionInfo": "1.35"}]}"#
  static let build = #"{"commit": "4f2a9c1", "pipeline": "ci-123", "time": "2026-11-30T10:00:00Z"}"#

  @Test(
    "release create --meta attaches an SBOM and build information; show lists them; operators, the device and the dashboard read the same bytes; a different document under a taken name is refused"
  )
  func attachAndRead() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let sbomFile = "\(fleet.root)/bom.json"
      let buildFile = "\(fleet.root)/build.json"
      try Self.spdx.write(toFile: sbomFile, atomically: true, encoding: .utf8)
      try Self.build.write(toFile: buildFile, atomically: true, encoding: .utf8)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      let connection = ["--controller", fleet.controllerURL, "--certs", fleet.certs]
      let airlift = try Fleet.builtBinary("airlift")

      // A bad SBOM fails before anything is uploaded.
      let notSBOM = "\(fleet.root)/plain.json"
      try #"{"packages": []}"#.write(toFile: notSBOM, atomically: true, encoding: .utf8)
      let (refused, refusedOutput) = try await Fleet.execute(
        airlift, ["release", "create", "app", "0.9.0", "--asset", bundle, "--meta", "sbom=\(notSBOM)"] + connection)
      #expect(refused != 0 && refusedOutput.contains("SPDX JSON"), "\(refusedOutput)")
      #expect(try await client.releases(package: "app").isEmpty)

      let (status, output) = try await Fleet.execute(
        airlift,
        [
          "release", "create", "app", "1.0.0", "--asset", bundle, "--meta", "sbom=\(sbomFile)", "--meta",
          "build=\(buildFile)", "--tag", "testing", "--sign-key", "\(fleet.certs)/release-signing.key", "--json",
        ] + connection)
      #expect(status == 0, "\(output)")
      let decoder = JSONDecoder()
      decoder.dateDecodingStrategy = .iso8601
      let created = try decoder.decode(API.Release.self, from: Data(output.utf8))
      #expect(created.metadata?.map(\.name) == ["sbom", "build"])
      let listed = try #require(try await client.release(package: "app", version: "1.0.0").metadata)
      #expect(listed.map(\.name) == ["build", "sbom"])
      #expect(listed.map(\.kind) == [.build, .spdx])
      #expect(listed[1].size == Self.spdx.utf8.count)

      let (shown, shownOutput) = try await Fleet.execute(airlift, ["release", "show", "app@1.0.0"] + connection)
      #expect(shown == 0 && shownOutput.contains("sbom") && shownOutput.contains("sbom-spdx"), "\(shownOutput)")
      let (printed, printedOutput) = try await Fleet.execute(
        airlift, ["release", "meta", "app@1.0.0", "sbom"] + connection)
      #expect(printed == 0 && printedOutput == Self.spdx + "\n")

      // Immutable: the same bytes again are fine, others are refused.
      _ = try await client.attachMetadata(
        package: "app", version: "1.0.0", name: "sbom", document: Array(Self.spdx.utf8))
      await #expect {
        _ = try await client.attachMetadata(
          package: "app", version: "1.0.0", name: "sbom", document: Array(#"{"spdxVersion": "SPDX-2.3"}"#.utf8))
      } throws: { "\($0)".contains("metadata_exists") }
      await #expect {
        _ = try await client.metadata(package: "app", version: "1.0.0", name: "nope")
      } throws: { "\($0)".contains("metadata_not_found") }

      // The device: after it installed 1.0.0, `airlift-agent metadata app sbom` reads the installed version's SBOM.
      let config = try fleet.agentConfig("meta-1")
      try await fleet.startAgent(config)
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["meta-1"])))
      try await eventually("1.0.0 to install") { try await client.deployment(deployment.id).status == .completed }
      let configFile = "\(fleet.root)/meta-1.json"
      try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: configFile))
      let (fetched, fetchedOutput) = try await Fleet.execute(
        try Fleet.builtBinary("airlift-agent"), ["metadata", "--config", configFile, "app", "sbom"])
      #expect(fetched == 0 && fetchedOutput == Self.spdx + "\n", "\(fetchedOutput)")
      let (missing, missingOutput) = try await Fleet.execute(
        try Fleet.builtBinary("airlift-agent"), ["metadata", "--config", configFile, "app@1.0.0", "changelog"])
      #expect(missing != 0 && missingOutput.contains("has no metadata document 'changelog'"), "\(missingOutput)")
      // Operators read the device route only as devices: refused.
      await #expect {
        _ = try await client.deviceMetadata(package: "app", version: "1.0.0", name: "sbom")
      } throws: { "\($0)".contains("this route is for devices") }

      // The dashboard's releases page links each document.
      let token = try await client.createToken(name: "viewer", role: .reader)
      let browser = DashboardTests.Browser(fleet)
      _ = try await browser.login(token.secret)
      let page = try await browser.request("/ui/releases")
      #expect(page.body.contains(#"href="/ui/releases/app/1.0.0/metadata/sbom""#))
      let document = try await browser.request("/ui/releases/app/1.0.0/metadata/build")
      #expect(document.status == 200 && document.body == Self.build)
      await browser.shutdown()
    }
  }
}
