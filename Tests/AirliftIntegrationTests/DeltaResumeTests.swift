import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

@Suite("Delta updates cut by kill -9")
struct DeltaResumeTests {
  @Test(
    "the real agent killed mid-delta resumes from its checked chunks: nothing fetched twice, installed once, the count carried over"
  )
  func killedMidDelta() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let metrics = try #require(fleet.controller?.metrics)
      var config = try fleet.agentConfig("dl-kill")
      try fleet.startAgentProcess(config)
      try await eventually("dl-kill to check in", within: 90) {
        try await client.devices().contains { $0.id == "dl-kill" && $0.online }
      }
      let v1 = try randomBytes(4 << 20)
      _ = try await DeltaUpdateTests.release(fleet, client, version: "1.0.0", payload: v1)
      #expect(
        try await DeltaUpdateTests.deploy(fleet, client, version: "1.0.0", to: "dl-kill").last?.state == .successful)

      // v2 rewrites 1.5 MiB in the middle; at 150 kB/s its delta takes about 10 s, so the kill lands inside it.
      var v2 = v1
      v2.replaceSubrange((1 << 20)..<((1 << 20) + (3 << 19)), with: try randomBytes(3 << 19))
      _ = try await DeltaUpdateTests.release(fleet, client, version: "2.0.0", payload: v2)
      let estimate = try await client.estimateDelta(package: "app", from: "1.0.0", to: "2.0.0")
      #expect(estimate.assets.first?.whole == nil, "\(estimate)")
      await fleet.killAgentProcess("dl-kill", SIGTERM)
      config.maxBytesPerSecond = 150_000
      try fleet.startAgentProcess(config)
      let before = metrics.artifactBytesServed
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "2.0.0", target: .init(devices: ["dl-kill"])))
      let store = try #require(fleet.controller?.store)
      try await eventually("half of the delta to be fetched", within: 120) {
        try await store.statusEvents(deployment: deployment.id, device: DeviceID("dl-kill")).contains {
          ($0.fetched ?? 0) >= estimate.transfer.fetched / 2
        }
      }
      await fleet.killAgentProcess("dl-kill")
      let beforeKill = try await store.statusEvents(deployment: deployment.id, device: DeviceID("dl-kill"))
      #expect(!beforeKill.contains { $0.state == .downloaded }, "the kill came after the delta had ended")
      let fetchedAtKill = beforeKill.compactMap(\.fetched).max() ?? 0
      // What the controller wrote into the connection, read by the agent or still in socket buffers.
      let servedBeforeKill = metrics.artifactBytesServed - before

      try fleet.startAgentProcess(config)
      try await eventually("dl-kill to finish 2.0.0", within: 120) {
        try await client.deployment(deployment.id).devices.first?.state.isTerminal == true
      }
      let entry = try #require(try await client.deployment(deployment.id).devices.first)
      #expect(entry.state == .successful, "\(entry.error ?? "")")
      // After the restart only what was not on disk travels (and the index again): fetching from the start again
      // would cost the whole delta.
      let servedAfter = metrics.artifactBytesServed - before - servedBeforeKill
      #expect(
        servedAfter < estimate.transfer.fetched - fetchedAtKill + (256 << 10),
        "\(servedAfter) bytes served after the restart; \(fetchedAtKill) of \(estimate.transfer.fetched) were in")
      let events = try await store.statusEvents(deployment: deployment.id, device: DeviceID("dl-kill"))
      #expect(events.contains { $0.stage == "resuming after the agent restarted" })
      #expect(!events.contains { ($0.stage ?? "").hasPrefix("no delta") }, "it stayed a delta after the restart")
      // The count goes on from what the first process stored: about the whole delta, not what came after the kill.
      let transfer = try #require(entry.transfer)
      #expect(transfer.fetched >= estimate.transfer.fetched * 8 / 10, "\(transfer) for \(estimate.transfer)")
      #expect(transfer.reused == estimate.transfer.reused, "\(transfer) for \(estimate.transfer)")
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n") == ["app 1.0.0", "app 2.0.0"])
    }
  }
}
