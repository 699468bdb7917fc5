import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// Multi-step flows (JFrog Connect's action blocks) with a real controller,
/// broker and agents: steps run in order on the signed release's assets,
/// each with its own answer to failure, parameters fill any field, and the
/// run names its target.
@Suite("Update flows made of steps")
struct FlowStepsTests {
  /// A release of the steps handler: `config.json` (its text is `config`), `migrate.sh` (appends its first
  /// argument to `migrations` in the install folder; with `undo`, removes that file), `health.sh` (exits
  /// `health`; a number counts down failures first when `flaky` is set).
  static func release(
    _ fleet: Fleet, _ client: ControllerClient, version: String, config: String, health: Int = 0, flaky: Int = 0
  ) async throws {
    let folder = "\(fleet.root)/steps-\(version)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try config.write(toFile: "\(folder)/config.json", atomically: true, encoding: .utf8)
    _ = try TestScript.write(
      "\(folder)/migrate.sh",
      #"if [ "$1" = undo ]; then rm -f "$AIRLIFT_INSTALL_DIR/migrations"; else echo "$1" >> "$AIRLIFT_INSTALL_DIR/migrations"; fi"#
    )
    _ = try TestScript.write(
      "\(folder)/health.sh",
      """
      count="$AIRLIFT_INSTALL_DIR/health-tries"; n=$(cat "$count" 2>/dev/null || echo 0); echo $((n + 1)) > "$count"
      [ "$n" -lt \(flaky) ] && { echo "not yet ($n)" >&2; exit 1; }
      [ \(health) -eq 0 ] || echo "service does not answer" >&2
      exit \(health)
      """)
    var assets: [API.CreateRelease.AssetRef] = []
    for name in ["config.json", "migrate.sh", "health.sh"] {
      let blob = try await client.uploadBlob(file: "\(folder)/\(name)")
      assets.append(.init(name: name, sha256: blob.sha256))
    }
    _ = try await client.createRelease(
      API.CreateRelease(package: "gw-app", version: version, handler: HandlerName.steps, assets: assets))
  }

  /// The flow: the config file into `${CONFIG_DIR}`, the migration with `${NAME}`, the health check; `failure`
  /// is the health check's answer to failing.
  static func flow(
    _ name: String, failure: FlowStep.OnFailure = .rollBack, retries: Int? = nil, reboot: Bool = false
  ) -> API.CreateFlow {
    var steps = [
      FlowStep(name: "config", action: .download, asset: "config.json", path: "${CONFIG_DIR}/config.json"),
      FlowStep(name: "migrate", action: .script, asset: "migrate.sh", arguments: ["${NAME}"], undo: ["undo"]),
      FlowStep(
        name: "health", action: .healthCheck, asset: "health.sh", timeout: 1, onFailure: failure, retries: retries),
    ]
    if reboot { steps.insert(FlowStep(action: .reboot), at: 2) }
    var definition = API.CreateFlow(
      name: name, handler: HandlerName.steps,
      parameters: [.init(name: "CONFIG_DIR", required: true), .init(name: "NAME", defaultValue: "v2")],
      target: .init(group: "lab"))
    definition.steps = steps
    return definition
  }

  @Test(
    "the steps run in order with the run's values, each reported; the run's own target replaces the flow's; a step naming a missing asset or a relative path is refused before anything starts"
  )
  func runsInOrder() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let lab = try fleet.agentConfig("st-lab")
      let prod = try fleet.agentConfig("st-prod")
      try await fleet.startAgent(lab)
      try await fleet.startAgent(prod)
      try await eventually("both to check in") { try await client.devices().count == 2 }
      _ = try await client.createGroup("lab")
      _ = try await client.addToGroup("lab", devices: [lab.deviceID])
      _ = try await client.createGroup("prod")
      _ = try await client.addToGroup("prod", devices: [prod.deviceID])
      try await Self.release(fleet, client, version: "2.0.0", config: #"{"level": 2}"#)
      _ = try await client.createFlow(Self.flow("gw"))

      // A value that makes the path relative: refused, nothing created.
      do {
        _ = try await client.launchFlow(
          "gw", .init(package: "gw-app", version: "2.0.0", parameters: ["CONFIG_DIR": "etc"]))
        Issue.record("a relative path was accepted")
      } catch {
        #expect("\(error)".contains("must be an absolute file path"), "\(error)")
      }
      #expect(try await client.deployments().isEmpty)

      // The same flow, this run for the prod group.
      let deployment = try await client.launchFlow(
        "gw",
        .init(
          package: "gw-app", version: "2.0.0", parameters: ["CONFIG_DIR": "\(prod.installDirectory)/etc"],
          target: .init(group: "prod")))
      #expect(deployment.devices.map(\.device) == [prod.deviceID])
      #expect(deployment.steps?.first?.path == "\(prod.installDirectory)/etc/config.json", "resolved when it ran")
      let device = try await client.ended(deployment.id, as: .successful)
      #expect(device.state == .successful, "\(device.error ?? "")")
      #expect(
        try String(contentsOfFile: "\(prod.installDirectory)/etc/config.json", encoding: .utf8) == #"{"level": 2}"#)
      #expect(try String(contentsOfFile: "\(prod.installDirectory)/migrations", encoding: .utf8) == "v2\n")
      #expect(!FileManager.default.fileExists(atPath: "\(lab.installDirectory)/migrations"), "lab was not in this run")
      for stage in ["step 1 of 3: config", "step 2 of 3: migrate", "step 3 of 3: health"] {
        _ = try await fleet.report(of: prod.deviceID, in: deployment.id, stage) {
          $0.state == .installing && $0.stage == stage
        }
      }
    }
  }

  @Test(
    "a failed step's answer: roll-back undoes the steps done in reverse (the old file back, the undo script run); stop leaves them; continue goes on; retry runs it again"
  )
  func failureAnswers() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("st-fail")
      try await fleet.startAgent(config)
      try await eventually("the device to check in") { try await client.devices().count == 1 }
      _ = try await client.createGroup("lab")
      _ = try await client.addToGroup("lab", devices: [config.deviceID])
      let file = "\(config.installDirectory)/etc/config.json"
      try FileManager.default.createDirectory(
        atPath: "\(config.installDirectory)/etc", withIntermediateDirectories: true)
      try "old".write(toFile: file, atomically: true, encoding: .utf8)
      let values = ["CONFIG_DIR": "\(config.installDirectory)/etc"]
      let tries = "\(config.installDirectory)/health-tries"

      // roll-back: the config file is the old one again, the migration undone.
      try await Self.release(fleet, client, version: "2.0.0", config: "new", health: 3)
      _ = try await client.createFlow(Self.flow("back", failure: .rollBack))
      let backward = try await client.launchFlow("back", .init(package: "gw-app", version: "2.0.0", parameters: values))
      var device = try await client.ended(backward.id, as: .rolledBack)
      #expect(device.state == .rolledBack)
      #expect(device.error?.contains("step 3 of 3 (health)") == true, "\(device.error ?? "")")
      #expect(device.error?.contains("service does not answer") == true, "\(device.error ?? "")")
      #expect(try String(contentsOfFile: file, encoding: .utf8) == "old")
      #expect(!FileManager.default.fileExists(atPath: "\(config.installDirectory)/migrations"))

      // stop: the update fails there; the steps done stay.
      try? FileManager.default.removeItem(atPath: tries)
      try await Self.release(fleet, client, version: "2.1.0", config: "new", health: 3)
      _ = try await client.createFlow(Self.flow("halt", failure: .stop))
      let halted = try await client.launchFlow("halt", .init(package: "gw-app", version: "2.1.0", parameters: values))
      device = try await client.ended(halted.id, as: .failed)
      #expect(device.state == .failed)
      #expect(try String(contentsOfFile: file, encoding: .utf8) == "new")
      #expect(try String(contentsOfFile: "\(config.installDirectory)/migrations", encoding: .utf8) == "v2\n")

      // continue: the failure is reported, the update goes on to success.
      try? FileManager.default.removeItem(atPath: tries)
      try await Self.release(fleet, client, version: "2.2.0", config: "newer", health: 3)
      _ = try await client.createFlow(Self.flow("onward", failure: .continue))
      let onward = try await client.launchFlow(
        "onward", .init(package: "gw-app", version: "2.2.0", parameters: values))
      device = try await client.ended(onward.id, as: .successful)
      #expect(device.state == .successful, "\(device.error ?? "")")
      _ = try await fleet.report(of: config.deviceID, in: onward.id, "the continued failure") {
        ($0.stage ?? "").hasPrefix("step 3 of 3: health failed, continuing")
      }

      // retry: the health check passes on its third run, in a later try of the step.
      try? FileManager.default.removeItem(atPath: tries)
      try await Self.release(fleet, client, version: "2.3.0", config: "newest", flaky: 2)
      _ = try await client.createFlow(Self.flow("again", failure: .retry, retries: 2))
      let again = try await client.launchFlow("again", .init(package: "gw-app", version: "2.3.0", parameters: values))
      device = try await client.ended(again.id, as: .successful)
      #expect(device.state == .successful, "\(device.error ?? "")")
      // Each try polls the check for its 1 s; the third run passes in the second or third try.
      _ = try await fleet.report(of: config.deviceID, in: again.id, "a later try") {
        ["step 3 of 3: health, try 2 of 3", "step 3 of 3: health, try 3 of 3"].contains($0.stage)
      }
    }
  }

  @Test(
    "a reboot step: the steps before it install, the device restarts, the steps after it run once it is back; a download outside the allowed folders fails the device with the reason"
  )
  func rebootAndAllowedFolders() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("st-boot")
      try fleet.startAgentProcess(config)
      try await eventually("the device to check in") { try await client.devices().count == 1 }
      _ = try await client.createGroup("lab")
      _ = try await client.addToGroup("lab", devices: [config.deviceID])
      try await Self.release(fleet, client, version: "2.0.0", config: "booted")
      _ = try await client.createFlow(Self.flow("boot", reboot: true))
      let deployment = try await client.launchFlow(
        "boot", .init(package: "gw-app", version: "2.0.0", parameters: ["CONFIG_DIR": config.installDirectory]))
      #expect(try await fleet.waitForAgentExit(config.deviceID) == 0, "the agent exits for the reboot")
      #expect(!FileManager.default.fileExists(atPath: "\(config.installDirectory)/health-tries"), "not before it")
      try fleet.startAgentProcess(config)
      let device = try await client.ended(deployment.id, as: .successful)
      #expect(device.state == .successful, "\(device.error ?? "")")
      #expect(FileManager.default.fileExists(atPath: "\(config.installDirectory)/health-tries"), "after the boot")
      _ = try await fleet.report(of: config.deviceID, in: deployment.id, "the check after the boot") {
        $0.state == .verifying && $0.stage == "step 4 of 4: health"
      }

      // Outside the install folder (the default of steps.directories): refused on the device.
      try await Self.release(fleet, client, version: "3.0.0", config: "elsewhere")
      let outside = try await client.launchFlow(
        "boot", .init(package: "gw-app", version: "3.0.0", parameters: ["CONFIG_DIR": "\(fleet.root)/elsewhere"]))
      let refused = try await client.ended(outside.id, as: .failed)
      #expect(refused.state == .failed)
      #expect(refused.error?.contains("a download step may write only below") == true, "\(refused.error ?? "")")
      #expect(!FileManager.default.fileExists(atPath: "\(fleet.root)/elsewhere/config.json"))
    }
  }

  @Test(
    "from the command line: a steps release deploys with --steps and no flow, deploy show lists the resolved steps; without steps it is refused, saying why"
  )
  func commandLine() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("st-cli")
      try await fleet.startAgent(config)
      try await eventually("the device to check in") { try await client.devices().count == 1 }
      try await Self.release(fleet, client, version: "2.0.0", config: "from the cli")
      let steps = "\(fleet.root)/steps.json"
      try #"[{"action": "download", "asset": "config.json", "path": "${DIR}/config.json"}]"#.write(
        toFile: steps, atomically: true, encoding: .utf8)

      let (refused, refusal) = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["deploy", "create", "gw-app@2.0.0", "--device", config.deviceID])
      #expect(refused != 0)
      #expect(refusal.contains("is a release of the steps handler: give its steps"), "\(refusal)")

      let (created, output) = try await UpdateFlowIntegrationTests.airlift(
        fleet,
        [
          "deploy", "create", "gw-app@2.0.0", "--device", config.deviceID, "--steps", steps, "--param",
          "DIR=\(config.installDirectory)", "--json",
        ])
      #expect(created == 0, "\(output)")
      let deployment = try UpdateFlowIntegrationTests.decode(API.Deployment.self, output)
      _ = try await client.ended(deployment.id, as: .successful)
      #expect(
        try String(contentsOfFile: "\(config.installDirectory)/config.json", encoding: .utf8) == "from the cli")
      let (_, shown) = try await UpdateFlowIntegrationTests.airlift(fleet, ["deploy", "show", deployment.id])
      #expect(
        shown.contains("step 1: download config.json → \(config.installDirectory)/config.json (on failure: stop)"),
        "\(shown)")
    }
  }
}
