import AirliftCore
import Foundation

/// A snapshot of a simulated fleet, written as JSON to `--stats FILE` each
/// second so a benchmark can read exact times instead of parsing output.
struct SimStats: Codable, Sendable {
  /// When the snapshot was taken (seconds since 1970).
  var time: Double
  var devices: Int
  /// Sessions up now.
  var connected: Int
  /// Successful connections, the first ones and every reconnect (counted
  /// once the device has subscribed again).
  var connects: Int
  /// When the latest of those connections was made (seconds since 1970).
  var lastConnectAt: Double?
  /// Connections by round: `connectRounds[k]` is how many devices have
  /// connected at least k + 1 times, and the span of their (k + 1)th.
  var connectRounds: [Round]
  /// Deployment notices received: `notices[k]` is how many devices have
  /// received at least k + 1 and when the last of those (k + 1)th arrived.
  var notices: [Round]
  /// Devices by the state of their latest report ("idle" before any).
  var states: [String: Int]
  /// Status reports published (and acknowledged by the broker).
  var reportsSent: Int

  struct Round: Codable, Sendable {
    var devices: Int
    var firstAt: Double
    var lastAt: Double
    /// How many arrived in each whole second from `firstAt` on.
    var perSecond: [Int] = []

    mutating func add(_ at: Double) {
      firstAt = devices == 0 ? at : min(firstAt, at)
      lastAt = max(lastAt, at)
      devices += 1
    }

    /// `rounds[k]` from each device's list of times.
    static func from(_ lists: [[Double]], limit: Int = 8) -> [Round] {
      var rounds: [Round] = []
      for times in lists {
        for (index, at) in times.prefix(limit).enumerated() {
          if rounds.count <= index { rounds.append(Round(devices: 0, firstAt: 0, lastAt: 0)) }
          rounds[index].add(at)
        }
      }
      for index in rounds.indices {
        var buckets = [Int](repeating: 0, count: Int(rounds[index].lastAt - rounds[index].firstAt) + 1)
        for times in lists where times.count > index {
          let bucket = Int(times[index] - rounds[index].firstAt)
          if buckets.indices.contains(bucket) { buckets[bucket] += 1 }
        }
        rounds[index].perSecond = buckets
      }
      return rounds
    }
  }

  /// `connected N/M, Downloading 3, Successful 97`.
  var summary: String {
    "connected \(connected)/\(devices), "
      + states.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
  }

  /// Gathers a snapshot from every device.
  static func collect(_ fleet: [SimulatedDevice]) async -> SimStats {
    var stats = SimStats(
      time: Date().timeIntervalSince1970, devices: fleet.count, connected: 0, connects: 0, connectRounds: [],
      notices: [], states: [:], reportsSent: 0)
    var noticeTimes: [[Double]] = []
    var connectTimes: [[Double]] = []
    for device in fleet {
      let snapshot = await device.snapshot
      if snapshot.connected { stats.connected += 1 }
      stats.connects += snapshot.connectTimes.count
      if let at = snapshot.connectTimes.last { stats.lastConnectAt = max(stats.lastConnectAt ?? 0, at) }
      stats.states[snapshot.state?.rawValue ?? "idle", default: 0] += 1
      stats.reportsSent += snapshot.reportsSent
      noticeTimes.append(snapshot.noticeTimes)
      connectTimes.append(snapshot.connectTimes)
    }
    stats.notices = Round.from(noticeTimes)
    stats.connectRounds = Round.from(connectTimes)
    return stats
  }

  /// Writes the snapshot to `path` atomically (a reader never sees half a file).
  func write(to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
  }
}

/// What one simulated device has done so far.
struct DeviceSnapshot: Sendable {
  var connected: Bool
  /// When each connection was made (and, after a reconnect, subscribed again).
  var connectTimes: [Double]
  /// When each non-empty deployment message arrived, oldest first.
  var noticeTimes: [Double]
  var state: DeviceState?
  var reportsSent: Int
}
