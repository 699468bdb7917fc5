import Foundation

/// The range of every number, count and size that enters Airlift from
/// outside (the REST API, the CLI, a notice on the device), checked where it
/// enters so that nothing further in can overflow, wait forever or grow
/// without bound. One table, so the API, the CLI, the agent and the
/// documentation agree.
public enum Limits {
  /// A download or install stage's timeout, in seconds: up to 30 days (a satellite link).
  public static let stageTimeout: ClosedRange<Int> = 1...2_592_000
  /// The time a device may take for a whole update once started, in seconds: up to 90 days.
  public static let deviceTimeout: ClosedRange<Int> = 1...7_776_000
  /// The device timeout of a deployment that names devices not seen yet and gives none: 30 days.
  public static let unknownDeviceTimeout = 2_592_000
  /// A rollout's soak time between phases, in seconds: up to 30 days.
  public static let soakSeconds: ClosedRange<Int> = 0...2_592_000
  /// Devices started per minute.
  public static let ratePerMinute: ClosedRange<Int> = 1...1_000_000
  /// A count of devices: maxDevices, a phase's count, minEnded.
  public static let deviceCount: ClosedRange<Int> = 1...10_000_000
  /// Failures a policy allows before it aborts.
  public static let maxFailures: ClosedRange<Int> = 0...10_000_000
  /// Tries of the whole update after the first.
  public static let retries: ClosedRange<Int> = 0...10
  /// The round a notice carries (the first try and up to `retries` more).
  public static let round: ClosedRange<Int> = 1...(retries.upperBound + 1)
  /// A percent: thresholds and failure percents.
  public static let percent: ClosedRange<Double> = 0...100
  /// Phases in one rollout plan.
  public static let phases: ClosedRange<Int> = 1...100
  /// Devices listed by name in one target.
  public static let targetDevices: ClosedRange<Int> = 1...100_000
  /// Parameters of one deployment, and the bytes of one value.
  public static let parameters: ClosedRange<Int> = 0...100
  public static let parameterValueBytes: ClosedRange<Int> = 0...4096
  /// A deployment's free-text name, in bytes.
  public static let nameBytes: ClosedRange<Int> = 1...200
  /// How far ahead a deployment may be scheduled, and how far behind "now" a start time may lie
  /// (a little: the operator's clock may be behind the controller's).
  public static let startAhead: TimeInterval = 366 * 86_400
  public static let startBehind: TimeInterval = 86_400
  /// An asset's size in bytes as a notice may state it (1 TiB).
  public static let assetSize: ClosedRange<Int64> = 0...(1 << 40)
  /// Assets in one release.
  public static let assets: ClosedRange<Int> = 1...1000
  /// An operator's reason for a pause, abort, freeze, revocation or rollback, in bytes.
  public static let reasonBytes: ClosedRange<Int> = 0...1000
  /// A device's answer to a command, in bytes.
  public static let commandMessageBytes: ClosedRange<Int> = 0...8192
  /// A report's stage or error text, in bytes.
  public static let reportTextBytes: ClosedRange<Int> = 0...8192
  /// An attribute's (or installed package's) name and value in a check-in, in bytes.
  public static let checkInKeyBytes: ClosedRange<Int> = 0...128
  public static let checkInValueBytes: ClosedRange<Int> = 0...896
  /// Attributes, or installed packages, in one check-in.
  public static let checkInEntries: ClosedRange<Int> = 0...1000

  /// Refuses `value` outside `range`, naming the field, the value and the range.
  public static func check(
    _ field: String, _ value: Int?, in range: ClosedRange<Int>, unit: String = ""
  ) throws(AirliftCoreError) {
    guard let value, !range.contains(value) else { return }
    throw .outOfRange(field: field, value: "\(value)", allowed: describe(range, unit: unit))
  }

  public static func check(
    _ field: String, _ value: Int64?, in range: ClosedRange<Int64>, unit: String = ""
  ) throws(AirliftCoreError) {
    guard let value, !range.contains(value) else { return }
    throw .outOfRange(
      field: field, value: "\(value)",
      allowed: "\(range.lowerBound) to \(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")")
  }

  /// Refuses NaN, infinities and values outside `range`.
  public static func check(
    _ field: String, _ value: Double?, in range: ClosedRange<Double>, unit: String = ""
  ) throws(AirliftCoreError) {
    guard let value, !(value.isFinite && range.contains(value)) else { return }
    throw .outOfRange(
      field: field, value: "\(value)",
      allowed: "\(format(range.lowerBound)) to \(format(range.upperBound))\(unit.isEmpty ? "" : " \(unit)")")
  }

  /// The range in words: "1 to 2592000 seconds (30 days)".
  public static func describe(_ range: ClosedRange<Int>, unit: String = "") -> String {
    var text = "\(range.lowerBound) to \(range.upperBound)"
    if !unit.isEmpty { text += " \(unit)" }
    if unit == "seconds", range.upperBound >= 86_400, range.upperBound % 86_400 == 0 {
      text += " (\(range.upperBound / 86_400) days)"
    }
    return text
  }

  /// `seconds` as a `Duration`, held to `range` first: arithmetic on what a
  /// notice or a stored state says can then never overflow.
  public static func duration(seconds: Int, in range: ClosedRange<Int>) -> Duration {
    .seconds(min(max(seconds, range.lowerBound), range.upperBound))
  }

  private static func format(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
  }
}
