import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// The device side a fioup or Ioto user expects, with the real `airlift-agent` binary talking to the running
/// agent through its socket: fetch without installing, install what was fetched, or apply it with another
/// program and report the outcome.
@Suite("Device-side update commands: fetch, install, local apply")
struct LocalUpdateCommandsTests {
  private func agentCommand(_ fleet: Fleet, _ device: String, _ arguments: [String]) async throws -> (
    status: Int32, output: String
  ) {
    try await runAgentCommand(
      [arguments[0], "--config", fleet.agentConfigPath(device)] + arguments.dropFirst())
  }

  private func release(_ fleet: Fleet, _ client: ControllerClient, version: String, marker: String) async throws
    -> String
  {
    let bundle = try ReleaseBundle.make(
      in: fleet.root, name: "app-\(version).tar.gz", install: "#!/bin/sh\ntouch '\(marker)'\n", payloadBytes: 50_000)
    _ = try await client.uploadRelease(package: "app", version: version, file: bundle)
    return bundle
  }

  private func state(_ client: ControllerClient, _ deployment: String) async throws -> API.DeviceProgress? {
    try await client.deployment(deployment).devices.first
  }

  @Test(
    "fetch holds the next update after its download and prints its verified file; install then installs it and waits for the outcome; both refuse clearly when nothing waits or no agent runs"
  )
  func fetchThenInstall() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("lu-fetch")
      config.channels = ["tools": "stable"]
      try fleet.startAgentProcess(config)
      try await ABBootloaderTests.checkedIn(client, "lu-fetch")

      let early = try await agentCommand(fleet, "lu-fetch", ["fetch"])
      #expect(early.status == 0 && early.output.contains("the next one stops after its download"), "\(early)")
      let nothing = try await agentCommand(fleet, "lu-fetch", ["install"])
      #expect(nothing.status == 1 && nothing.output.contains("no downloaded update is waiting"), "\(nothing)")

      let marker = "\(fleet.root)/installed-1"
      let bundle = try await release(fleet, client, version: "1.0.0", marker: marker)
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["lu-fetch"])))
      try await eventually("the update to wait, downloaded") {
        try await state(client, deployment.id)?.state == .downloaded
      }
      try await Task.sleep(for: .seconds(1))
      #expect(try await state(client, deployment.id)?.state == .downloaded, "held, not installed")
      #expect(!FileManager.default.fileExists(atPath: marker))

      let fetched = try await agentCommand(fleet, "lu-fetch", ["fetch", "--json"])
      #expect(fetched.status == 0, "\(fetched)")
      let reply = try Wire.decode(LocalReply.self, from: Array(fetched.output.utf8), topic: "fetch")
      #expect(reply.deployment == deployment.id)
      let file = try #require(reply.ready?.files?.values.first, "\(reply)")
      #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data(contentsOf: URL(fileURLWithPath: bundle)))

      // What the device could run: the deployment it holds.
      let held = try await agentCommand(fleet, "lu-fetch", ["updates", "--json"])
      #expect(held.status == 0, "\(held)")
      let heldOffers = try Wire.decode(AvailableUpdates.self, from: Array(held.output.utf8), topic: "updates").offers
      #expect(
        heldOffers.contains {
          $0.source == .deployment && $0.via == deployment.id && $0.version == "1.0.0" && $0.state == .downloaded
        }, "\(heldOffers)")

      let installed = try await agentCommand(fleet, "lu-fetch", ["install"])
      #expect(installed.status == 0 && installed.output.contains("Successful"), "\(installed)")
      #expect(FileManager.default.fileExists(atPath: marker))
      try await eventually("the controller to have it") {
        try await state(client, deployment.id)?.state == .successful
      }

      // A tag of a channel it follows names a version: offered too (the controller deploys it as well).
      _ = try await client.uploadRelease(
        package: "tools", version: "3.1.0", file: try ReleaseBundle.make(in: fleet.root, name: "tools.tar.gz"))
      _ = try await client.setTag(package: "tools", tag: "stable", version: "3.1.0", locked: false)
      let listed = try await agentCommand(fleet, "lu-fetch", ["updates", "--json"])
      let offers = try Wire.decode(AvailableUpdates.self, from: Array(listed.output.utf8), topic: "updates").offers
      #expect(
        offers.contains {
          $0.source == .channel && $0.package == "tools" && $0.version == "3.1.0" && $0.via == "stable"
        },
        "\(offers)")
      let table = try await agentCommand(fleet, "lu-fetch", ["updates"])
      #expect(table.output.contains("tools@3.1.0  channel stable"), "\(table)")

      await fleet.killAgentProcess("lu-fetch", SIGTERM)
      let noAgent = try await agentCommand(fleet, "lu-fetch", ["install"])
      #expect(noAgent.status != 0 && noAgent.output.contains("is it running?"), "\(noAgent)")
      let badResult = try await agentCommand(fleet, "lu-fetch", ["apply", "--result", "maybe"])
      #expect(badResult.status == 64 && badResult.output.contains("give ok or failed"), "\(badResult)")
    }
  }

  @Test(
    "a local program applies the ready update itself: apply --result ok records it installed without running the handler; --result failed reports Failed with its message"
  )
  func localApply() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("lu-local")
      config.consent = true
      try fleet.startAgentProcess(config)
      try await ABBootloaderTests.checkedIn(client, "lu-local")

      let marker = "\(fleet.root)/handler-ran"
      _ = try await release(fleet, client, version: "1.0.0", marker: marker)
      let first = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["lu-local"])))
      try await eventually("the update to wait for consent") {
        try await state(client, first.id)?.state == .downloaded
      }
      // The local program learns where the verified file is, applies it its own way, and says so.
      let ready = try await agentCommand(fleet, "lu-local", ["fetch", "--json"])
      let file = try #require(
        try Wire.decode(LocalReply.self, from: Array(ready.output.utf8), topic: "fetch").ready?.files?.values.first,
        "\(ready)")
      #expect(FileManager.default.fileExists(atPath: file))
      let ok = try await agentCommand(fleet, "lu-local", ["apply", "--result", "ok"])
      #expect(ok.status == 0 && ok.output.contains("recorded as installed"), "\(ok)")
      try await eventually("Successful on the controller") { try await state(client, first.id)?.state == .successful }
      #expect(!FileManager.default.fileExists(atPath: marker), "the agent's handler did not run")
      try await eventually("the device to report 1.0.0 installed") {
        try await client.device("lu-local").device.installed["app"] == "1.0.0"
      }

      _ = try await release(fleet, client, version: "2.0.0", marker: marker)
      let second = try await client.createDeployment(
        .init(package: "app", version: "2.0.0", target: .init(devices: ["lu-local"])))
      try await eventually("the second update to wait for consent") {
        try await state(client, second.id)?.state == .downloaded
      }
      let failed = try await agentCommand(
        fleet, "lu-local", ["apply", "--result", "failed", "--message", "flash write error at 0x4000"])
      #expect(failed.status == 0 && failed.output.contains("failed on the device"), "\(failed)")
      try await eventually("the failure on the controller") {
        try await state(client, second.id)?.state.isTerminal == true
      }
      let device = try #require(try await state(client, second.id))
      #expect([.failed, .rolledBack].contains(device.state))
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: second.id, device: DeviceID("lu-local"))
      #expect(events.contains { ($0.error ?? "").contains("flash write error at 0x4000") }, "\(events)")
      #expect(!FileManager.default.fileExists(atPath: marker))
      #expect(try await client.device("lu-local").device.installed["app"] == "1.0.0")
    }
  }
}
