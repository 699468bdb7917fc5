import AirliftAgent
import AirliftClient
import AirliftController
import AirliftCore
import Foundation
import Testing

/// Telemetry events: `airlift-agent event send` on the device, through the real agent and broker (or HTTPS for
/// a polling device), stored by the controller up to its retention, read back with `airlift device events`.
@Suite("Device telemetry events")
struct DeviceTelemetryTests {
  private func send(_ fleet: Fleet, _ device: String, _ arguments: [String]) async throws -> (
    status: Int32, output: String
  ) {
    try await runAgentCommand(["event", "send", "--config", fleet.agentConfigPath(device)] + arguments)
  }

  private func waitForCheckIn(_ client: ControllerClient, _ device: String) async throws {
    try await eventually("\(device) to check in") {
      try await client.devices().contains { $0.id == device && $0.online }
    }
  }

  @Test(
    "events reach the controller over MQTT, wait in the outbox while the agent is down, keep their order and time, filter by kind and time, and are counted; bad kinds and data are refused on the device"
  )
  func mqttEvents() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("tm-1")
      try fleet.startAgentProcess(config)
      try await waitForCheckIn(client, "tm-1")

      let sent = try await send(fleet, "tm-1", ["temperature", #"{"c": 71, "sensor": "cpu"}"#])
      #expect(sent.status == 0 && sent.output.contains("queued temperature"), "\(sent)")
      try await eventually("the event to be stored") { try await !client.deviceEvents("tm-1").isEmpty }
      let first = try #require(try await client.deviceEvents("tm-1").first)
      #expect(first.kind == "temperature")
      #expect(first.data == .object(["c": .number(71), "sensor": .string("cpu")]))

      // A second between the first event and the rest, for the --since filter below.
      try await Task.sleep(for: .seconds(1))

      // The agent is down: the events wait in its outbox and go, in order, once it runs again.
      await fleet.killAgentProcess("tm-1", SIGTERM)
      let offlineTime = Date()
      for (kind, data) in [("disk.full", #"{"pct": 97}"#), ("temperature", "72.5"), ("boot", "null")] {
        let queued = try await send(fleet, "tm-1", [kind, data])
        #expect(queued.status == 0 && queued.output.contains("the agent is not running"), "\(queued)")
      }
      try await Task.sleep(for: .seconds(1))
      try fleet.startAgentProcess(config)
      try await eventually("the queued events to be stored") { try await client.deviceEvents("tm-1").count == 4 }
      let all = try await client.deviceEvents("tm-1")
      #expect(all.map(\.kind) == ["boot", "temperature", "disk.full", "temperature"])
      #expect(all[0].data == .null && all[1].data == .number(72.5))
      let queuedBoot = all[0]
      #expect(queuedBoot.time >= offlineTime.addingTimeInterval(-1) && queuedBoot.time < queuedBoot.receivedAt)
      #expect(
        queuedBoot.receivedAt.timeIntervalSince(queuedBoot.time) >= 0.9,
        "the time is when it was sent on the device, not when it arrived")

      // Filters, through the operator CLI.
      let listed = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["device", "events", "tm-1", "--kind", "temperature", "--json"])
      #expect(listed.status == 0, "\(listed)")
      let temperatures = try UpdateFlowIntegrationTests.decode([API.StoredDeviceEvent].self, listed.output)
      #expect(temperatures.map(\.data) == [.number(72.5), first.data])
      let recent = try await client.deviceEvents("tm-1", since: offlineTime.addingTimeInterval(-0.5))
      #expect(Set(recent.map(\.kind)) == ["boot", "temperature", "disk.full"] && recent.count == 3)
      #expect(try await client.deviceEvents("tm-1", limit: 2).count == 2)
      let table = try await UpdateFlowIntegrationTests.airlift(fleet, ["device", "events", "tm-1", "--since", "1h"])
      #expect(table.status == 0 && table.output.contains("disk.full") && table.output.contains(#"{"pct":97}"#))

      // Refused on the device, with the reason; nothing is queued.
      let badKind = try await send(fleet, "tm-1", ["temp erature", "1"])
      #expect(badKind.status != 0 && badKind.output.contains("event kind"), "\(badKind)")
      let badData = try await send(fleet, "tm-1", ["temperature", "{c: 71"])
      #expect(badData.status != 0 && badData.output.contains("not JSON"), "\(badData)")
      let huge = try await send(fleet, "tm-1", ["blob", "\"" + String(repeating: "x", count: 9000) + "\""])
      #expect(huge.status != 0 && huge.output.contains("event data (bytes of JSON)"), "\(huge)")
      let badSince = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["device", "events", "tm-1", "--since", "yesterday"])
      #expect(badSince.status != 0 && badSince.output.contains("--since"), "\(badSince)")
      let unknown = try await UpdateFlowIntegrationTests.airlift(fleet, ["device", "events", "nobody"])
      #expect(unknown.status != 0 && unknown.output.contains("nobody"), "\(unknown)")

      try await Task.sleep(for: .seconds(1))
      #expect(try await client.deviceEvents("tm-1").count == 4)
      #expect(try await DeviceFloodTests.metric(fleet, "airlift_device_events_total") == 4)
    }
  }

  @Test(
    "a polling device sends its events over HTTPS; each device keeps only its newest events (the retention limit)")
  func pollingAndRetention() async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerNow { $0.eventRetention = EventRetention(maxPerDevice: 5) }
      let client = try #require(fleet.client)
      let config = try PollingDeviceTests.pollingConfig(fleet, "tp-1")
      try fleet.startAgentProcess(config)
      try await waitForCheckIn(client, "tp-1")
      for index in 1...8 {
        let sent = try await send(fleet, "tp-1", ["counter", #"{"n": \#(index)}"#])
        #expect(sent.status == 0, "\(sent)")
      }
      try await eventually("the last event to be stored") {
        try await client.deviceEvents("tp-1").first?.data == .object(["n": .number(8)])
      }
      let kept = try await client.deviceEvents("tp-1")
      #expect(kept.map(\.data) == (4...8).reversed().map { .object(["n": .number(Double($0))]) })
    }
  }
}
