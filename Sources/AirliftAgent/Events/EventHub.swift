import AirliftCore
import Synchronization

/// Hands every `device:update` event to whoever listens right now (socket
/// clients, the hook runner). A slow listener loses its oldest events,
/// never holds up an update.
final class EventHub: Sendable {
  private struct State {
    var next = 0
    var listeners: [Int: AsyncStream<DeviceUpdateEvent>.Continuation] = [:]
  }
  private let state = Mutex(State())

  func publish(_ event: DeviceUpdateEvent) {
    let listeners = state.withLock { Array($0.listeners.values) }
    for listener in listeners { listener.yield(event) }
  }

  func subscribe(buffer: Int = 256) -> AsyncStream<DeviceUpdateEvent> {
    let (stream, continuation) = AsyncStream.makeStream(
      of: DeviceUpdateEvent.self, bufferingPolicy: .bufferingNewest(buffer))
    let key = state.withLock { state in
      defer { state.next += 1 }
      state.listeners[state.next] = continuation
      return state.next
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.listeners.removeValue(forKey: key) }
    }
    return stream
  }
}
