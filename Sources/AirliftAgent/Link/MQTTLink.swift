import AirliftCore
import AirliftMQTT
import AsyncHTTPClient
import Foundation
import Logging

/// The device's broker session: notices and commands arrive at once, reports are published with QoS 1, presence
/// is retained (and the broker's last will says `offline` when the device vanishes). The desired deployment is
/// also asked for over HTTPS on every announce, so a notice missed while away is not lost.
final class MQTTLink: ControllerLink {
  private let agent: Agent
  private let http: HTTPClient
  let mqtt: MQTTClient
  let messages: AsyncStream<ControllerMessage>
  private let received: AsyncStream<ControllerMessage>.Continuation
  let reconnects: AsyncStream<Void>
  private let reconnected: AsyncStream<Void>.Continuation
  private let up = Latch()

  init(agent: Agent, http: HTTPClient) throws {
    self.agent = agent
    self.http = http
    mqtt = try MQTTClient(options: agent.mqttOptions(), logger: agent.logger)
    (messages, received) = AsyncStream.makeStream()
    (reconnects, reconnected) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  var isConnected: Bool { mqtt.isConnected }
  /// The client reconnects by itself: a report that could not be published is tried again every second.
  var outboxMaxRetryDelay: Double { 1 }

  func run() async throws {
    // Subscribe first: a resumed session delivers what was queued while the device was away right after it
    // connects.
    let notices = try await mqtt.subscribe(Topics.device(agent.deviceID, .deployment), qos: 1)
    let commands = try await mqtt.subscribe(Topics.device(agent.deviceID, .command), qos: 1)
    let configs = try await mqtt.subscribe(Topics.device(agent.deviceID, .config), qos: 1)
    try await retrying(
      RetryDelays(Backoff(base: 0.5, maximum: 30), jitter: agent.jitter), clock: agent.clock.underlying,
      failed: { [agent] error, wait in
        agent.logger.error("\(error) — retrying in \(Backoff.describe(wait.seconds))")
        try? agent.store.recordError("\(error)")
      }, { try await self.mqtt.connect() })
    up.open()
    await withDiscardingTaskGroup { group in
      group.addTask {
        for await message in notices { self.accept(message, as: DeploymentNotice.self, ControllerMessage.notice) }
      }
      group.addTask {
        for await message in commands { self.accept(message, as: DeviceCommand.self, ControllerMessage.command) }
      }
      group.addTask {
        for await message in configs { self.accept(message, as: DeviceConfig.self, ControllerMessage.config) }
      }
      group.addTask {
        for await event in self.mqtt.events where event == .connected(reconnect: true) { self.reconnected.yield() }
      }
    }
  }

  func established() async { await up.wait() }

  /// Decodes a message for this device; an empty retained message clears the topic and means nothing.
  private func accept<T: Decodable & Sendable>(
    _ message: MQTTMessage, as type: T.Type, _ wrap: (T) -> ControllerMessage
  ) {
    guard !message.payload.isEmpty else { return }
    do {
      received.yield(wrap(try Wire.decode(T.self, from: message.payload, topic: message.topic)))
    } catch {
      agent.logger.warning("ignored message on \(message.topic): \(error)")
    }
  }

  func announce(nextCheckIn: Date) async -> Bool {
    do {
      try await mqtt.publish(
        Topics.device(agent.deviceID, .presence), payload: Wire.encode(Presence(.online)), qos: 1, retain: true)
    } catch {
      agent.logger.warning("could not publish presence: \(error)")
    }
    await sendInventory()
    do {
      if let notice = try await agent.fetchDesired(http) { received.yield(.notice(notice)) }
    } catch {
      agent.logger.warning("\(error)")
      try? agent.store.recordError("\(error)")
    }
    return mqtt.isConnected
  }

  func sendInventory() async {
    let checkIn = await agent.currentCheckIn()
    do {
      try await mqtt.publish(Topics.device(agent.deviceID, .checkin), payload: Wire.encode(checkIn), qos: 1)
      try? agent.store.recordCheckIn()
    } catch {
      agent.logger.warning("could not check in: \(error)")
      try? agent.store.recordError("could not check in: \(error)")
    }
  }

  func deliver(_ message: OutboxMessage) async throws -> OutboxDelivery {
    do {
      try await mqtt.publish(message.topic, payload: message.payload, qos: 1)
      return .delivered
    } catch MQTTError.notAuthorized(let operation, let topic) {
      return .refused("broker refused to \(operation) \(topic) — check the ACL and certificate CN")
    } catch MQTTError.closed {
      return .stopped
    }
  }

  func close() async {
    // A clean disconnect sends no last will, so say `offline` ourselves.
    try? await withTimeout(.seconds(2)) {
      try await self.mqtt.publish(
        Topics.device(self.agent.deviceID, .presence), payload: Wire.encode(Presence(.offline)), qos: 1,
        retain: true)
    }
    await mqtt.close()
  }
}
