import AirliftAgent
import AirliftCore
import AirliftMQTT
import Foundation
import Synchronization
import Testing

/// Collects what a subscription delivers, for assertions on what arrived.
final class Inbox: Sendable {
  private let messages = Mutex<[MQTTMessage]>([])

  init(_ stream: AsyncStream<MQTTMessage>) {
    Task { [self] in
      for await message in stream { self.messages.withLock { $0.append(message) } }
    }
  }

  var topics: [String] { messages.withLock { $0.map(\.topic) } }
  var all: [MQTTMessage] { messages.withLock { $0 } }
}

@Suite("Broker: mutual TLS and per-device ACL")
struct BrokerSecurityTests {
  @Test("device-001 never receives device-002's messages, not even through '#'")
  func devicesReadOnlyTheirOwnTopics() async throws {
    try await Fleet.with(controller: false) { fleet in
      let one = try fleet.issueDevice("device-001")
      try fleet.issueDevice("device-002")
      let device = try fleet.mqttClient(certificate: one.certificate, key: one.key, clientID: "device-001")
      let controller = try fleet.controllerMQTT()
      try await device.connect()
      try await controller.connect()
      defer {
        Task {
          await device.close()
          await controller.close()
        }
      }
      let everything = Inbox(try await device.subscribe("#"))
      let direct = Inbox(try await device.subscribe("airlift/v1/devices/device-002/#"))

      let own = Topics.device(try DeviceID("device-001"), .deployment)
      let other = Topics.device(try DeviceID("device-002"), .deployment)
      try await controller.publish(other, payload: Array("for device-002".utf8), qos: 1)
      try await controller.publish(own, payload: Array("for device-001".utf8), qos: 1)

      try await eventually("device-001's own message") { everything.topics.contains(own) }
      try await Task.sleep(for: .milliseconds(300))
      #expect(everything.topics == [own])
      #expect(direct.topics.isEmpty)
    }
  }

  @Test("a status device-001 publishes on device-002's topic is refused and never reaches the controller")
  func devicesCannotWriteForOthers() async throws {
    try await Fleet.with(controller: false) { fleet in
      let one = try fleet.issueDevice("device-001")
      try fleet.issueDevice("device-002")
      // Even claiming the other device's client id does not help: the ACL
      // keys on the certificate's CN.
      let device = try fleet.mqttClient(certificate: one.certificate, key: one.key, clientID: "device-002")
      let controller = try fleet.controllerMQTT()
      try await device.connect()
      try await controller.connect()
      defer {
        Task {
          await device.close()
          await controller.close()
        }
      }
      let statuses = Inbox(try await controller.subscribe(Topics.sharedAllDevices(.status, group: "test-group")))

      let forged = Topics.device(try DeviceID("device-002"), .status)
      let genuine = Topics.device(try DeviceID("device-001"), .status)
      let report = Wire.encode(StatusReport(deployment: "dep-x", state: .successful))
      await #expect(throws: MQTTError.notAuthorized(operation: "publish on", topic: forged)) {
        try await device.publish(forged, payload: report, qos: 1)
      }
      try await device.publish(genuine, payload: report, qos: 1)

      try await eventually("the genuine status") { statuses.topics.contains(genuine) }
      #expect(statuses.topics == [genuine])
    }
  }

  @Test("a device whose certificate another CA signed cannot connect, and the error says why")
  func unknownCAIsRejected() async throws {
    try await Fleet.with(controller: false) { fleet in
      let foreign = try fleet.foreignPKI()
      let stranger = try fleet.issueDevice("device-666", pki: foreign)
      // It trusts the real broker (our CA file) but holds a foreign certificate.
      let client = try fleet.mqttClient(certificate: stranger.certificate, key: stranger.key, clientID: "device-666")
      defer { Task { await client.close() } }
      do {
        try await client.connect()
        Issue.record("a certificate from an unknown CA was accepted")
      } catch {
        let text = "\(error)"
        #expect(text.contains("127.0.0.1:\(fleet.brokerPort)"))
        #expect(text.contains("fleet CA"))
      }

      // The agent's own connectivity check says the same, without crashing.
      var config = try fleet.agentConfig("device-667")
      config.certificate = stranger.certificate
      config.key = stranger.key
      let agent = try Agent(config: config, logger: Fleet.quietLogger)
      await #expect(throws: MQTTError.self) { try await agent.checkConnectivity() }
    }
  }

  @Test(
    "no certificate can take another client's session: a device claiming the controller's or another device's client id knocks nobody off"
  )
  func clientIDsAreBoundToCertificates() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("bind-2"))
      let rogue = try fleet.issueDevice("bind-1")
      var readiness: [Bool] = []
      for claimed in ["airlift-controller", "bind-2", "airlift-controller", "bind-2", "airlift-controller"] {
        let impostor = try fleet.mqttClient(certificate: rogue.certificate, key: rogue.key, clientID: claimed)
        try await impostor.connect()
        try await Task.sleep(for: .milliseconds(300))
        readiness.append(await client.isHealthy())
        await impostor.close()
      }
      #expect(readiness.allSatisfy { $0 }, "\(readiness)")
      // The other device was never disconnected: its presence never went offline.
      let log = try await #require(fleet.controller?.store).presenceHistory(try DeviceID("bind-2"))
      #expect(log.allSatisfy { $0.online }, "\(log)")
      #expect(try await client.devices().first { $0.id == "bind-2" }?.online == true)
    }
  }
}
