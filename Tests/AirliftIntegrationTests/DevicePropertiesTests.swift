import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// Device properties (Nexigon's device properties) with a real controller,
/// broker and agents: set on a group and a device from the command line,
/// merged, written on the device, told to hooks, reported back; drift shown
/// while a device is away.
@Suite("Device properties: desired configuration, applied and reported")
struct DevicePropertiesTests {
  static func file(_ config: AgentConfig) -> [String: String]? {
    guard let data = FileManager.default.contents(atPath: config.propertiesPath) else { return nil }
    return try? JSONDecoder().decode([String: String].self, from: data)
  }

  @Test(
    "group and device properties reach an MQTT and a polling device merged (the device's win), hooks hear device:config, the controller sees them applied; an away device shows drift until it is back"
  )
  func applied() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var mqtt = try fleet.agentConfig("pr-1")
      let hooks = "\(fleet.root)/hooks"
      try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
      _ = try TestScript.write("\(hooks)/record", "cat >> '\(fleet.root)/hook-events'")
      mqtt.hooksDirectory = hooks
      let polling = try PollingDeviceTests.pollingConfig(fleet, "pr-2", period: 1, jitter: 0)
      try await fleet.startAgent(mqtt)
      try await fleet.startAgent(polling)
      try await eventually("both to check in") { try await client.devices().count == 2 }
      _ = try await client.createGroup("eu")
      _ = try await client.addToGroup("eu", devices: ["pr-1", "pr-2"])

      let (groupSet, groupOutput) = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["group", "set", "eu", "ntp=pool.eu", "log_level=info"])
      #expect(groupSet == 0, "\(groupOutput)")
      let (deviceSet, deviceOutput) = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["device", "set", "pr-1", "log_level=debug"])
      #expect(deviceSet == 0, "\(deviceOutput)")

      try await eventually("pr-1 to write its properties") {
        Self.file(mqtt) == ["ntp": "pool.eu", "log_level": "debug"]
      }
      try await eventually("pr-2 to get them at a check-in") {
        Self.file(polling) == ["ntp": "pool.eu", "log_level": "info"]
      }
      for device in ["pr-1", "pr-2"] {
        try await eventually("\(device) to report them applied") {
          try await client.deviceProperties(device).inSync
        }
      }
      let hookEvents = try String(contentsOfFile: "\(fleet.root)/hook-events", encoding: .utf8)
      #expect(hookEvents.contains(#""event":"device:config""#), "\(hookEvents)")
      let configEvents = hookEvents.split(separator: "\n").compactMap {
        try? Wire.decode(DeviceConfigEvent.self, from: Array($0.utf8), topic: "hook")
      }
      #expect(configEvents.last?.file == mqtt.propertiesPath, "the event names the file")
      #expect(configEvents.last?.properties == ["ntp": "pool.eu", "log_level": "debug"])
      let (_, shown) = try await UpdateFlowIntegrationTests.airlift(fleet, ["device", "show", "pr-1"])
      #expect(shown.contains("properties: applied"), "\(shown)")
      #expect(shown.contains("log_level") && shown.contains("group eu"), "\(shown)")

      // Away: the new value waits (drift), and arrives when the device is back.
      await fleet.stopAgent("pr-1")
      _ = try await client.setProperties(device: "pr-1", .init(set: ["mode": "maintenance"], unset: ["log_level"]))
      let away = try await client.deviceProperties("pr-1")
      // Its own log_level gone, the group's shows through.
      #expect(!away.inSync && away.desired == ["ntp": "pool.eu", "mode": "maintenance", "log_level": "info"])
      let (_, drift) = try await UpdateFlowIntegrationTests.airlift(fleet, ["device", "show", "pr-1"])
      #expect(drift.contains("DRIFT"), "\(drift)")
      try await fleet.startAgent(mqtt)
      try await eventually("pr-1 to apply the change once back") {
        Self.file(mqtt) == ["ntp": "pool.eu", "mode": "maintenance", "log_level": "info"]
      }
      try await eventually("pr-1 in sync again") { try await client.deviceProperties("pr-1").inSync }
    }
  }

  @Test("bad keys, values and counts are refused with the reason, and nothing is stored")
  func refused() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let (status, output) = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["device", "set", "pr-9", "bad key=1"])
      #expect(status != 0)
      #expect(output.contains("property key 'bad key'"), "\(output)")
      var many: [String: String] = [:]
      for index in 0...DeviceConfig.maxProperties { many["k\(index)"] = "v" }
      do {
        _ = try await client.setProperties(device: "pr-9", .init(set: many))
        Issue.record("201 properties were accepted")
      } catch {
        #expect("\(error)".contains("set (how many) is 201, out of range"), "\(error)")
      }
      do {
        _ = try await client.setProperties(device: "pr-9", .init(set: ["big": String(repeating: "x", count: 5000)]))
        Issue.record("a 5,000-byte value was accepted")
      } catch {
        #expect("\(error)".contains("property 'big' (bytes)"), "\(error)")
      }
      #expect(try await client.deviceProperties("pr-9").desired.isEmpty)
    }
  }
}
