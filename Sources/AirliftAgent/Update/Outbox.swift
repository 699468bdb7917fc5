import AirliftCore
import Logging

/// What became of one attempt to deliver a stored message.
enum OutboxDelivery: Sendable {
  case delivered
  /// Refused for good (it would block every later report): dropped, with why.
  case refused(String)
  /// The transport is closing: stop until woken again.
  case stopped
}

/// Sends the stored reports in order and deletes each one only after the
/// broker (or, for a polling device, the controller) acknowledged it: a
/// report survives outages and agent restarts, and is sent again (at least
/// once) until it arrives.
final class Outbox: Sendable {
  private let store: AgentStore
  private let deliver: @Sendable (OutboxMessage) async throws -> OutboxDelivery
  private let logger: Logger
  /// Failed sends are retried after 1 s, doubling up to this, jittered.
  private let maxRetryDelay: Double
  private let clock: any Clock<Duration>
  private let jitter: Jitter
  private let signals: AsyncStream<Void>
  private let signal: AsyncStream<Void>.Continuation
  /// Yields each time the outbox has been emptied.
  let drained: AsyncStream<Void>
  private let drainedSignal: AsyncStream<Void>.Continuation

  init(
    store: AgentStore, logger: Logger, maxRetryDelay: Double = 30, clock: any Clock<Duration> = ContinuousClock(),
    jitter: Jitter = .system, deliver: @escaping @Sendable (OutboxMessage) async throws -> OutboxDelivery
  ) {
    self.maxRetryDelay = maxRetryDelay
    self.clock = clock
    self.jitter = jitter
    self.store = store
    self.deliver = deliver
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
    var delays = RetryDelays(Backoff(base: 1, maximum: maxRetryDelay), jitter: jitter)
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
        switch try await deliver(message) {
        case .delivered:
          try store.removeOutboxMessage(message.id)
          delays.reset()
        case .refused(let reason):
          logger.error("report dropped: \(reason)")
          try? store.removeOutboxMessage(message.id)
        case .stopped:
          return
        }
      } catch {
        let wait = delays.afterFailure()
        logger.warning("report not delivered yet (\(error)); retrying in \(Backoff.describe(wait.seconds))")
        try? await clock.sleep(for: wait)
      }
    }
  }
}
