import AirliftCore
import AirliftMQTT
import Foundation
import Testing

@Suite("MQTT client over Paho, against a real broker")
struct MQTTClientTests {
  @Test("after the broker restarts the client reconnects by itself and its subscriptions work again")
  func reconnectResubscribes() async throws {
    try await Fleet.with(controller: false) { fleet in
      let cert = try fleet.issueDevice("device-030")
      // A clean session: the broker forgets the subscription, so only the
      // client's own resubscribe can bring the messages back.
      let device = try MQTTClient(
        options: .init(
          brokerURL: fleet.brokerURL, clientID: "device-030",
          tls: .init(caFile: "\(fleet.certs)/ca.crt", certificateFile: cert.certificate, keyFile: cert.key),
          cleanStart: true, connectTimeout: 5, minRetryInterval: 1, maxRetryInterval: 2),
        logger: Fleet.quietLogger)
      // A loaded machine may refuse a first connect while the broker settles: try again within the deadline.
      try await eventually("the device to connect") { (try? await device.connect()) != nil }
      defer { Task { await device.close() } }
      let topic = Topics.device(try DeviceID("device-030"), .deployment)
      let inbox = Inbox(try await device.subscribe(topic))
      let reconnected = Task {
        for await event in device.events where event == .connected(reconnect: true) { return true }
        return false
      }

      fleet.killBroker()
      try await fleet.startBroker()
      #expect(await reconnected.value)

      let controller = try fleet.controllerMQTT()
      try await eventually("the controller to connect") { (try? await controller.connect()) != nil }
      defer { Task { await controller.close() } }
      try await controller.publish(topic, payload: Array("after restart".utf8), qos: 1)
      try await eventually("the message after the restart") {
        inbox.all.contains { $0.payload == Array("after restart".utf8) }
      }
    }
  }

  @Test("a retained message reaches a client that subscribes later, once; an empty retained message clears it")
  func retainedMessages() async throws {
    try await Fleet.with(controller: false) { fleet in
      let controller = try fleet.controllerMQTT()
      try await controller.connect()
      defer { Task { await controller.close() } }
      let topic = Topics.device(try DeviceID("device-031"), .deployment)
      try await controller.publish(topic, payload: Array("desired".utf8), qos: 1, retain: true)

      let cert = try fleet.issueDevice("device-031")
      let device = try fleet.mqttClient(certificate: cert.certificate, key: cert.key, clientID: "device-031")
      try await device.connect()
      defer { Task { await device.close() } }
      let first = Inbox(try await device.subscribe(topic))
      try await eventually("the retained message") { !first.all.isEmpty }
      #expect(first.all.map(\.retained) == [true])

      try await controller.publish(topic, payload: [], qos: 1, retain: true)
      let second = Inbox(try await device.subscribe(topic))
      try await Task.sleep(for: .milliseconds(500))
      #expect(second.all.filter(\.retained).isEmpty)
    }
  }

  @Test("malformed broker URLs are refused before anything connects")
  func invalidURL() {
    for url in ["127.0.0.1:8883", "mqtts://127.0.0.1", "http://x:1", "mqtts://:8883", "mqtts://h:99999"] {
      #expect(throws: MQTTError.invalidBrokerURL(url)) {
        _ = try MQTTClient(options: .init(brokerURL: url, clientID: "x"))
      }
    }
  }
}
