import AirliftClient
import AirliftCore
import Foundation
import Testing

/// `examples/release-pipeline`, the script the README carries, run as a CI job would against a real fleet.
@Suite("The README's release pipeline")
struct ReleasePipelineTests {
  static let script = "\(Fleet.repository)/examples/release-pipeline"

  @Test("the README carries the script exactly as the repository runs it")
  func readmeCarriesTheScript() throws {
    let readme = try String(contentsOfFile: "\(Fleet.repository)/README.md", encoding: .utf8)
    let script = try String(contentsOfFile: Self.script, encoding: .utf8)
    #expect(readme.contains("```bash\n" + script + "```"))
  }

  @Test(
    "version with a locked tag, SBOM, testing, the canary flow watched, then stable; a failing canary exits non-zero and leaves stable where it was"
  )
  func pipeline() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      for id in ["pl-1", "pl-2"] { try await fleet.startAgent(try fleet.agentConfig(id)) }
      try await eventually("the devices to check in") { try await client.devices().count == 2 }
      _ = try await client.createFlow(
        .init(
          name: "canary", handler: "script", parameters: [.init(name: "GREETING", required: true)],
          target: .init(devices: ["pl-1", "pl-2"]), onFailure: .init(action: .stop)))
      let sbom = "\(fleet.root)/bom.json"
      try #"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}"#.write(
        toFile: sbom, atomically: true, encoding: .utf8)
      let bin = URL(fileURLWithPath: try Fleet.builtBinary("airlift")).deletingLastPathComponent().path
      let environment = [
        "AIRLIFT_CONTROLLER=\(fleet.controllerURL)", "AIRLIFT_CERTS=\(fleet.certs)",
        "AIRLIFT_SIGNING_KEY=\(fleet.certs)/release-signing.key", "WATCH_TIMEOUT=120", "PATH=\(bin):/usr/bin:/bin",
      ]
      func run(_ version: String, _ bundle: String) async throws -> (status: Int32, output: String) {
        try await Fleet.execute(
          "/usr/bin/env", ["-i"] + environment + ["bash", Self.script, "app", version, bundle, sbom, "GREETING=hello"])
      }

      let good = try ReleaseBundle.make(in: fleet.root, name: "app-1.2.0.tar.gz")
      let (status, output) = try await run("1.2.0", good)
      #expect(status == 0, "\(output)")
      #expect(output.contains("app@1.2.0 is stable"))
      let tags = Dictionary(uniqueKeysWithValues: try await client.tags(package: "app").map { ($0.name, $0) })
      #expect(tags["stable"]?.version == "1.2.0" && tags["testing"]?.version == "1.2.0")
      #expect(tags["v1.2.0"]?.version == "1.2.0" && tags["v1.2.0"]?.locked == true)
      let release = try await client.release(package: "app", version: "1.2.0")
      #expect(release.signature != nil)
      #expect(release.metadata?.map(\.kind) == [.cycloneDX])
      let run1 = try #require(try await client.deployments().first)
      #expect(run1.flow == API.FlowRef(name: "canary", version: 1) && run1.tag == "testing")
      #expect(run1.parameters["GREETING"] == "hello" && run1.status == .completed)

      let failing = try ReleaseBundle.make(
        in: fleet.root, name: "app-1.3.0.tar.gz", install: ReleaseBundle.recordingInstall + "\nexit 3\n")
      let (failed, failedOutput) = try await run("1.3.0", failing)
      #expect(failed != 0)
      #expect(failedOutput.contains("app@1.3.0 failed its canary run"), "\(failedOutput)")
      let after = Dictionary(uniqueKeysWithValues: try await client.tags(package: "app").map { ($0.name, $0.version) })
      #expect(after["stable"] == "1.2.0" && after["testing"] == "1.3.0")
    }
  }
}
