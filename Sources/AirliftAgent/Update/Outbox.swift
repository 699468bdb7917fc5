import AirliftMQTT
import Logging

/// Publishes the stored reports in order and deletes each one only after
/// the broker acknowledged it: a report survives broker outages and agent
/// restarts, and is sent again (at least once) until it arrives.
final class Outbox: Sendable {
  private let store: AgentStore
  private let mqtt: MQTTClient
  private let logger: Logger
  private let signals: AsyncStream<Void>
  private let signal: AsyncStream<Void>.Continuation
  /// Yields each time the outbox has been emptied.
  let drained: AsyncStream<Void>
  private let drainedSignal: AsyncStream<Void>.Continuation

  init(store: AgentStore, mqtt: MQTTClient, logger: Logger) {
    self.store = store
    self.mqtt = mqtt
    self.logger = logger
    (signals, signal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    (drained, drainedSignal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  func wake() { signal.yield() }

  func run() async {
    wake()
    for await _ in signals {
      await drain()
      if Task.isCancelled { return }
    }
  }

  private func drain() async {
    while !Task.isCancelled {
      let next: OutboxMessage?
      do {
        next = try store.nextOutboxMessage()
      } catch {
        logger.error("could not read the outbox: \(error)")
        return
      }
      guard let message = next else {
        drainedSignal.yield()
        return
      }
      do {
        try await mqtt.publish(message.topic, payload: message.payload, qos: 1)
        try store.removeOutboxMessage(message.id)
      } catch MQTTError.notAuthorized(let operation, let topic) {
        // The broker will never take it; keeping it would block every later report.
        logger.error("broker refused to \(operation) \(topic); report dropped — check the ACL and certificate CN")
        try? store.removeOutboxMessage(message.id)
      } catch MQTTError.closed {
        return
      } catch {
        logger.warning("report not delivered yet (\(error)); retrying")
        try? await Task.sleep(for: .seconds(1))
      }
    }
  }
}
