import Synchronization

/// How one Paho request (connect, subscribe, publish, disconnect) ended.
enum PahoOutcome: Sendable {
  case success(reasonCode: Int)
  case failure(code: Int, reasonCode: Int, message: String)
}

/// Maps the integers handed to Paho as callback contexts back to Swift.
///
/// Paho calls back on its own threads with the `void*` context it was given.
/// Instead of passing a retained Swift object through that pointer (which
/// would outlive a destroyed client or leak), the context is a plain integer
/// looked up here under a lock: a callback for a client or request that is
/// already gone finds nothing and does nothing.
final class CallbackRegistry: Sendable {
  static let shared = CallbackRegistry()

  private struct Pending {
    var owner: Int
    var continuation: CheckedContinuation<PahoOutcome, Never>
  }

  private struct State {
    var nextID = 1
    var pending: [Int: Pending] = [:]
    var clients: [Int: MQTTClient] = [:]
  }

  private let state = Mutex(State())

  /// A fresh, never reused context value.
  func reserveID() -> Int {
    state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
  }

  func register(_ client: MQTTClient, id: Int) {
    state.withLock { $0.clients[id] = client }
  }

  func unregister(client id: Int) {
    _ = state.withLock { $0.clients.removeValue(forKey: id) }
  }

  func client(_ context: UnsafeMutableRawPointer?) -> MQTTClient? {
    let id = Int(bitPattern: context)
    return state.withLock { $0.clients[id] }
  }

  /// Stores a continuation and returns the context value for Paho.
  func addPending(owner: Int, _ continuation: CheckedContinuation<PahoOutcome, Never>) -> Int {
    state.withLock { state in
      let id = state.nextID
      state.nextID += 1
      state.pending[id] = Pending(owner: owner, continuation: continuation)
      return id
    }
  }

  /// Resumes the request behind `context` once; later calls are ignored.
  func complete(_ context: UnsafeMutableRawPointer?, _ outcome: PahoOutcome) {
    complete(id: Int(bitPattern: context), outcome)
  }

  func complete(id: Int, _ outcome: PahoOutcome) {
    let pending = state.withLock { $0.pending.removeValue(forKey: id) }
    pending?.continuation.resume(returning: outcome)
  }

  /// Fails every request of a client that is being destroyed.
  func failAll(owner: Int, message: String) {
    let failed = state.withLock { state -> [Pending] in
      let mine = state.pending.filter { $0.value.owner == owner }
      for key in mine.keys { state.pending.removeValue(forKey: key) }
      return Array(mine.values)
    }
    for pending in failed {
      pending.continuation.resume(returning: .failure(code: -3, reasonCode: 0, message: message))
    }
  }
}
