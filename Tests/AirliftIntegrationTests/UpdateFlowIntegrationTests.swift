import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// Update flows with a real controller, broker and agents, driven by the CLI as a pipeline would.
@Suite("Update flows: defined once, run for every release")
struct UpdateFlowIntegrationTests {
  /// Runs `airlift ARGS --controller … --certs …`; returns its exit status and output.
  static func airlift(_ fleet: Fleet, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await Fleet.execute(
      try Fleet.builtBinary("airlift"), arguments + ["--controller", fleet.controllerURL, "--certs", fleet.certs])
  }

  static func decode<T: Decodable>(_ type: T.Type, _ output: String) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(T.self, from: Data(output.utf8))
  }

  static func greeting(_ config: AgentConfig) -> String? {
    try? String(contentsOfFile: "\(config.installDirectory)/greeting", encoding: .utf8)
  }

  @Test(
    "a flow runs for two releases with different values; each deployment records the flow version and the values; bad values are refused before anything starts"
  )
  func runsWithParameters() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var configs: [AgentConfig] = []
      for (id, model) in [("fl-1", "gw-100"), ("fl-2", "gw-100"), ("fl-3", "gw-200")] {
        let config = try fleet.agentConfig(id, attributes: ["model": model])
        try await fleet.startAgent(config)
        configs.append(config)
      }
      try await eventually("the devices to check in") { try await client.devices().count == 3 }

      // Defined once, from the CLI.
      let (created, createOutput) = try await Self.airlift(
        fleet,
        [
          "flow", "create", "canary", "--handler", "script", "--param", "GREETING", "--param-help",
          "GREETING=what the devices say", "--param", "COLOR=blue", "--expression", #"model == "gw-100""#,
          "--on-failure", "stop", "--json",
        ])
      #expect(created == 0, "\(createOutput)")
      let v1 = try Self.decode(API.Flow.self, createOutput)
      #expect(v1.ref == API.FlowRef(name: "canary", version: 1))
      #expect(
        v1.definition.parameters[0] == .init(name: "GREETING", description: "what the devices say", required: true))

      for version in ["1.0.0", "1.1.0"] {
        let bundle = try ReleaseBundle.make(in: fleet.root, name: "app-\(version).tar.gz")
        _ = try await client.uploadRelease(package: "app", version: version, file: bundle)
      }

      // A required value missing, or a value the flow does not declare: refused, nothing created.
      let (missing, missingOutput) = try await Self.airlift(
        fleet, ["deploy", "create", "--flow", "canary", "--release", "app@1.0.0"])
      #expect(missing != 0)
      #expect(missingOutput.contains("flow canary v1 needs 'GREETING'"), "\(missingOutput)")
      let (unknown, unknownOutput) = try await Self.airlift(
        fleet, ["deploy", "create", "--flow", "canary", "--release", "app@1.0.0", "--param", "GREETNG=x"])
      #expect(unknown != 0)
      #expect(
        unknownOutput.contains("flow canary v1 has no parameter 'GREETNG'; it declares GREETING, COLOR"),
        "\(unknownOutput)")
      #expect(try await client.deployments().isEmpty)

      // The run: the expression picks the two gw-100s; the values reach their install scripts.
      let (ran, runOutput) = try await Self.airlift(
        fleet,
        ["deploy", "create", "--flow", "canary", "--release", "app@1.0.0", "--param", "GREETING=hello", "--json"])
      #expect(ran == 0, "\(runOutput)")
      let first = try Self.decode(API.Deployment.self, runOutput)
      #expect(first.flow == API.FlowRef(name: "canary", version: 1))
      #expect(first.parameters == ["GREETING": "hello", "COLOR": "blue"])
      #expect(Set(first.devices.map(\.device)) == ["fl-1", "fl-2"])
      #expect(first.rollout?.plan.failure == FailurePolicy(maxFailures: 0))
      try await eventually("the first run to complete") { try await client.deployment(first.id).status == .completed }
      #expect(Self.greeting(configs[0]) == "hello" && Self.greeting(configs[1]) == "hello")
      #expect(Self.greeting(configs[2]) == nil)

      // A new version of the flow; the REST API runs it in one call, with its default.
      var v2Definition = v1.definition
      v2Definition.parameters = [.init(name: "GREETING", defaultValue: "hi")]
      v2Definition.target = .init(allDevices: true)
      v2Definition.onFailure = .init(action: .retry, retries: 1)
      let v2 = try await client.createFlow(v2Definition)
      #expect(v2.version == 2)
      let second = try await client.launchFlow("canary", .init(package: "app", version: "1.1.0"))
      #expect(second.flow == API.FlowRef(name: "canary", version: 2))
      #expect(second.parameters == ["GREETING": "hi"] && second.retries == 1)
      try await eventually("the second run to reach every device") {
        let devices = try await client.deployment(second.id).devices
        return devices.count == 3 && devices.allSatisfy { $0.state == .successful }
      }
      #expect(configs.allSatisfy { Self.greeting($0) == "hi" })
      // The first deployment still names the version it ran; that version is still readable.
      #expect(try await client.deployment(first.id).flow?.version == 1)
      let (shown, shownOutput) = try await Self.airlift(fleet, ["flow", "show", "canary", "--version", "1"])
      #expect(shown == 0 && shownOutput.contains("flow canary v1") && shownOutput.contains("what the devices say"))
      #expect(try await client.flowVersions("canary").map(\.version) == [1, 2])
      let (described, describedOutput) = try await Self.airlift(fleet, ["deploy", "show", first.id])
      #expect(described == 0 && describedOutput.contains("flow canary v1 with COLOR=blue GREETING=hello"))
      let token = try await client.createToken(name: "flow-viewer", role: .reader)
      let browser = DashboardTests.Browser(fleet)
      _ = try await browser.login(token.secret)
      let page = try await browser.request("/ui/deployments/\(first.id)")
      #expect(page.body.contains(#"<span id="flow">flow canary v1 with COLOR=blue GREETING=hello</span>"#))
      await browser.shutdown()

      // Deleted: it no longer runs; its deployments keep naming it.
      let (deleted, _) = try await Self.airlift(fleet, ["flow", "delete", "canary"])
      #expect(deleted == 0)
      await #expect {
        _ = try await client.launchFlow("canary", .init(package: "app", version: "1.1.0"))
      } throws: { "\($0)".contains("flow_not_found") }
      #expect(try await client.flows().isEmpty)
      #expect(try await client.deployment(second.id).flow?.name == "canary")
    }
  }

  @Test("a flow refuses a release of another handler, and its stop policy aborts at the first failure")
  func handlerAndFailurePolicy() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let ids = ["fl-a", "fl-b", "fl-c"]
      for id in ids { try await fleet.startAgent(try fleet.agentConfig(id)) }
      try await eventually("the devices to check in") { try await client.devices().count == 3 }
      let failing = ReleaseBundle.recordingInstall + "\necho 'does not fit' >&2\nexit 2\n"
      _ = try await client.uploadRelease(
        package: "app", version: "2.0.0", file: try ReleaseBundle.make(in: fleet.root, install: failing))

      _ = try await client.createFlow(.init(name: "files", handler: "directory", target: .init(devices: ids)))
      await #expect {
        _ = try await client.launchFlow("files", .init(package: "app", version: "2.0.0"))
      } throws: {
        "\($0)".contains("handler_mismatch")
          && "\($0)".contains(
            "flow files v1 installs with the 'directory' handler, but app@2.0.0 is a 'script' release")
      }

      _ = try await client.createFlow(
        .init(
          name: "careful", handler: "script", target: .init(devices: ids),
          rollout: RolloutPlan(phases: [.count(1), .percent(100)]), onFailure: .init(action: .stop)))
      let run = try await client.launchFlow("careful", .init(package: "app", version: "2.0.0"))
      try await eventually("the stop policy to abort it") { try await client.deployment(run.id).status == .aborted }
      let aborted = try await client.deployment(run.id)
      #expect(aborted.reason?.contains("stopped by its failure policy") == true, "\(aborted.reason ?? "")")
      #expect(aborted.devices.filter(\.started).count == 1)
      #expect(aborted.devices.filter { !$0.started }.allSatisfy { $0.state == .pending })
    }
  }
}
