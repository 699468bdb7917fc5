import AirliftClient
import AirliftCore
import AirliftMQTT
import Foundation
import Testing

/// Malformed JSON, wrong types, unexpected fields and oversized payloads on
/// every MQTT topic, against the real broker, controller and agent: each
/// keeps running and what comes after is handled.
@Suite("Hostile input on every MQTT topic")
struct HostileInputTests {
  static let garbage: [String] = [
    "not json", "{}", "[1,2]", "{\"v\":2}", "{\"v\":\"1\"}", "null", "{\"v\":1,\"device\":5,\"state\":[]}",
    "{\"v\":1,\"deployment\":{},\"release\":\"x\",\"artifacts\":7}", "{\"v\":1,\"status\":\"sideways\"}",
    "{\"v\":1,\"command\":null,\"ok\":\"yes\"}", String(repeating: "[", count: 5000),
  ]

  @Test("device topics: malformed, mistyped and oversized payloads are dropped; the controller carries on")
  func controllerTopics() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try fleet.issueDevice("hi-1")
      let id = try DeviceID("hi-1")
      let mqtt = try fleet.mqttClient(certificate: device.certificate, key: device.key, clientID: "hi-1")
      try await mqtt.connect()
      for channel in [Topics.Channel.checkin, .status, .presence, .commandResult] {
        for payload in Self.garbage {
          try await mqtt.publish(Topics.device(id, channel), payload: Array(payload.utf8), qos: 1)
        }
      }
      await mqtt.close()

      // Larger than the broker's max_packet_size: the broker drops the connection, not the controller.
      let big = try fleet.mqttClient(certificate: device.certificate, key: device.key, clientID: "hi-1-big")
      try await big.connect()
      let oversized =
        "{\"v\":1,\"device\":\"hi-1\",\"attributes\":{\"x\":\"" + String(repeating: "y", count: 300_000) + "\"}}"
      try? await big.publish(Topics.device(id, .checkin), payload: Array(oversized.utf8), qos: 1)
      await big.close()

      // Unexpected fields are ignored: a valid check-in with extras counts.
      let again = try fleet.mqttClient(certificate: device.certificate, key: device.key, clientID: "hi-1")
      try await again.connect()
      defer { Task { await again.close() } }
      var text = String(
        decoding: Wire.encode(CheckIn(device: id, attributes: ["model": "gw-9"], installed: [:], agentVersion: "t")),
        as: UTF8.self)
      text.removeFirst()
      let extended = "{\"unexpected\":{\"nested\":[1,2,3]},\"future\":true," + text
      try await again.publish(Topics.device(id, .checkin), payload: Array(extended.utf8), qos: 1)
      try await eventually("the valid check-in after the garbage") {
        try await client.devices().first { $0.id == "hi-1" }?.attributes["model"] == "gw-9"
      }
      #expect(try await client.devices().first { $0.id == "hi-1" }?.attributes["x"] == nil)
      #expect(await client.isHealthy())
    }
  }

  @Test("the agent's topics: garbage notices and commands are dropped; a real deployment still installs")
  func agentTopics() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("hi-2")
      try await fleet.startAgent(config)
      let id = try DeviceID("hi-2")
      let forger = try fleet.controllerMQTT(clientID: "hi-forger")
      try await forger.connect()
      for payload in Self.garbage {
        try await forger.publish(Topics.device(id, .deployment), payload: Array(payload.utf8), qos: 1, retain: true)
        try await forger.publish(Topics.device(id, .command), payload: Array(payload.utf8), qos: 1)
      }
      await forger.close()

      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["hi-2"])))
      try await eventually("the real deployment to install") {
        try await client.deployment(deployment.id).status == .completed
      }
      #expect(try await client.deployment(deployment.id).devices.first?.state == .successful)
      #expect(try await client.devices().first { $0.id == "hi-2" }?.online == true)
    }
  }

  @Test("an asset larger than maxArtifactSize is refused with 413 and nothing is kept")
  func artifactLimit() async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerNow(maxArtifactSize: 4096)
      let client = try #require(fleet.client)
      let small = "\(fleet.root)/small.bin"
      let large = "\(fleet.root)/large.bin"
      try Data(repeating: 1, count: 4096).write(to: URL(fileURLWithPath: small))
      try Data(repeating: 2, count: 4097).write(to: URL(fileURLWithPath: large))
      await #expect {
        _ = try await client.uploadBlob(file: large)
      } throws: { "\($0)".contains("artifact_too_large") && "\($0)".contains("4096 bytes") }
      #expect(try await client.uploadBlob(file: small).size == 4096)
      let kept = try FileManager.default.contentsOfDirectory(atPath: "\(fleet.root)/controller/blobs")
        .filter { !$0.hasPrefix(".") && $0.count == 64 }
      #expect(kept.count == 1)
    }
  }
}
