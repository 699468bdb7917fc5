import Synchronization

/// What one update's download cost: bytes that came over the network
/// (every attempt's, the chunk index's, a delta's ranges) and bytes a delta
/// took from the device instead. Reported with `Downloading` and
/// `Downloaded`, so the operator sees what a delta saved.
final class TransferTally: Sendable {
  private let counts: Mutex<(fetched: Int64, reused: Int64)>

  /// Starts from what an earlier process of the agent counted for the same update.
  init(fetched: Int64 = 0, reused: Int64 = 0) {
    counts = Mutex((fetched, reused))
  }

  var fetched: Int64 { counts.withLock { $0.fetched } }
  var reused: Int64 { counts.withLock { $0.reused } }

  func add(fetched bytes: Int64) {
    guard bytes > 0 else { return }
    counts.withLock { $0.fetched = $0.fetched.addingSaturating(bytes) }
  }

  func add(reused bytes: Int64) {
    guard bytes > 0 else { return }
    counts.withLock { $0.reused = $0.reused.addingSaturating(bytes) }
  }
}

extension Int64 {
  fileprivate func addingSaturating(_ other: Int64) -> Int64 {
    let (sum, overflow) = addingReportingOverflow(other)
    return overflow ? .max : sum
  }
}
