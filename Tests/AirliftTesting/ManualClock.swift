import Synchronization

/// A clock that moves only when a test says so: code that sleeps on it waits until `advance` passes its
/// deadline, so a test about time runs in microseconds and cannot race the machine.
public final class ManualClock: Clock, Sendable {
  public struct Instant: InstantProtocol {
    public var offset: Duration
    public init(offset: Duration) { self.offset = offset }
    public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
    public func duration(to other: Instant) -> Duration { other.offset - offset }
    public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
  }

  private struct Sleeper {
    let id: Int
    let deadline: Instant
    let continuation: CheckedContinuation<Void, any Error>
  }

  /// A test waiting until `count` tasks sleep with at most `within` left to wait.
  private struct Watcher {
    let count: Int
    let within: Duration?
    let continuation: CheckedContinuation<Void, Never>
  }

  private struct State {
    var now = Instant(offset: .zero)
    var sleepers: [Sleeper] = []
    var watchers: [Watcher] = []
    /// Sleeps cancelled before they were registered: they must not register afterwards.
    var cancelled: Set<Int> = []
    var nextID = 0
    /// Every wait asked for, in order: what a test checks.
    var waits: [Duration] = []
  }

  private let state = Mutex(State())

  public init() {}

  public var now: Instant { state.withLock { $0.now } }
  public var minimumResolution: Duration { .zero }
  /// The waits asked for so far (deadline minus the time it was asked at).
  public var waits: [Duration] { state.withLock { $0.waits } }
  /// What each sleeper has left to wait, shortest first.
  public var pending: [Duration] {
    state.withLock { state in state.sleepers.map { state.now.duration(to: $0.deadline) }.sorted() }
  }
  /// How many are sleeping now.
  public var sleeping: Int { state.withLock { $0.sleepers.count } }

  public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
    let id = state.withLock { state in
      state.nextID += 1
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let seenCancelled = Task.isCancelled
        let (cancelled, ready, watchers) = state.withLock { state -> (Bool, Bool, [Watcher]) in
          state.waits.append(state.now.duration(to: deadline))
          // The cancellation handler may have run before this registration: it left the id behind.
          let cancelled = seenCancelled || state.cancelled.remove(id) != nil
          if cancelled || deadline <= state.now { return (cancelled, true, []) }
          state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
          let snapshot = state
          let satisfied = state.watchers.filter { Self.satisfies($0, snapshot) }
          state.watchers.removeAll { Self.satisfies($0, snapshot) }
          return (false, false, satisfied)
        }
        for watcher in watchers { watcher.continuation.resume() }
        if cancelled {
          continuation.resume(throwing: CancellationError())
        } else if ready {
          continuation.resume()
        }
      }
    } onCancel: {
      let sleeper = state.withLock { state -> Sleeper? in
        guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else {
          state.cancelled.insert(id)
          return nil
        }
        return state.sleepers.remove(at: index)
      }
      sleeper?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Moves time on by `duration`, waking every sleeper whose deadline has come.
  public func advance(by duration: Duration) {
    let due = state.withLock { state -> [Sleeper] in
      state.now = state.now.advanced(by: duration)
      let now = state.now
      let due = state.sleepers.filter { $0.deadline <= now }
      state.sleepers.removeAll { $0.deadline <= now }
      return due
    }
    for sleeper in due { sleeper.continuation.resume() }
  }

  /// Returns once `count` tasks sleep on this clock (with at most `within` left to wait, when given: a test that
  /// steps a one-second poll is not fooled by a long timeout sleeping beside it). Woken by the sleep that makes
  /// the count, not by polling, so a loaded machine only delays it as much as the code under test.
  public func waitForSleepers(_ count: Int = 1, within: Duration? = nil) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let ready = state.withLock { state -> Bool in
        let watcher = Watcher(count: count, within: within, continuation: continuation)
        guard !Self.satisfies(watcher, state) else { return true }
        state.watchers.append(watcher)
        return false
      }
      if ready { continuation.resume() }
    }
  }

  private static func satisfies(_ watcher: Watcher, _ state: State) -> Bool {
    let matching = state.sleepers.filter { sleeper in
      watcher.within.map { state.now.duration(to: sleeper.deadline) <= $0 } ?? true
    }
    return matching.count >= watcher.count
  }
}
