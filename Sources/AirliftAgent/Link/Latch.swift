import Synchronization

/// Something that happens once (the link is up); any number of tasks wait for it, and a waiter that is cancelled
/// stops waiting.
final class Latch: Sendable {
  private struct State {
    var open = false
    var nextID = 0
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
  }

  private let state = Mutex(State())

  /// Lets every waiter, present and future, go on.
  func open() {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      guard !state.open else { return [] }
      state.open = true
      defer { state.waiters = [:] }
      return Array(state.waiters.values)
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns once `open` was called, or when the waiting task is cancelled.
  func wait() async {
    let id = state.withLock { state in
      state.nextID += 1
      return state.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let cancelled = Task.isCancelled
        let ready = state.withLock { state -> Bool in
          if state.open || cancelled { return true }
          state.waiters[id] = continuation
          return false
        }
        if ready { continuation.resume() }
      }
    } onCancel: {
      state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
  }
}
