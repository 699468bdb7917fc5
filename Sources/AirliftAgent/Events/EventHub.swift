import AirliftCore
import Synchronization

/// What local programs hear from the agent: an update's progress (`device:update`, `ready`) or new
/// properties (`device:config`).
enum AgentEvent: Sendable, Encodable {
  case update(DeviceUpdateEvent)
  case config(DeviceConfigEvent)

  func encode(to encoder: any Encoder) throws {
    switch self {
    case .update(let event): try event.encode(to: encoder)
    case .config(let event): try event.encode(to: encoder)
    }
  }

  /// What a log line says of it.
  var summary: String {
    switch self {
    case .update(let event): return event.state.rawValue
    case .config(let event): return "device:config \(event.version)"
    }
  }
}

/// Hands every event to whoever listens right now (socket clients, the hook
/// runner). A slow listener loses its oldest events, never holds up an update.
final class EventHub: Sendable {
  private struct State {
    var next = 0
    var listeners: [Int: AsyncStream<AgentEvent>.Continuation] = [:]
  }
  private let state = Mutex(State())

  func publish(_ event: DeviceUpdateEvent) { publish(.update(event)) }

  func publish(_ event: AgentEvent) {
    let listeners = state.withLock { Array($0.listeners.values) }
    for listener in listeners { listener.yield(event) }
  }

  func subscribe(buffer: Int = 256) -> AsyncStream<AgentEvent> {
    let (stream, continuation) = AsyncStream.makeStream(
      of: AgentEvent.self, bufferingPolicy: .bufferingNewest(buffer))
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

  /// The `device:update` (and `ready`) events alone.
  func updates(buffer: Int = 256) -> AsyncStream<DeviceUpdateEvent> {
    let source = subscribe(buffer: buffer)
    return AsyncStream(bufferingPolicy: .bufferingNewest(buffer)) { continuation in
      let task = Task {
        for await event in source {
          if case .update(let update) = event { continuation.yield(update) }
        }
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }
}
