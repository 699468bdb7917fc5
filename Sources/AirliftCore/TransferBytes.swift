import Foundation

/// What a device's download for one deployment cost: of the `total` bytes
/// the update needed, `fetched` came over the network (every attempt, a
/// delta's ranges and chunk index) and `reused` a delta took from what was
/// already on the device. The saving is what the operator reads off it.
public struct TransferBytes: Codable, Sendable, Equatable {
  public var total: Int64
  public var fetched: Int64
  public var reused: Int64

  public init(total: Int64, fetched: Int64, reused: Int64) {
    self.total = total
    self.fetched = fetched
    self.reused = reused
  }

  /// The share of `total` that did not travel, in percent (0 when nothing was saved or `total` is 0); negative
  /// when retries fetched more than the update's size.
  public var savedPercent: Double {
    guard total > 0 else { return 0 }
    return 100 * (1 - Double(fetched) / Double(total))
  }

  /// "3.1 MiB fetched of 768 MiB (99.6 % saved; 764.9 MiB reused from the devices)".
  public var summary: String {
    var text = "\(ByteCount.text(fetched)) fetched of \(ByteCount.text(total))"
    guard total > 0 else { return text }
    text += " (\(String(format: "%.1f", savedPercent)) % saved"
    return text + (reused > 0 ? "; \(ByteCount.text(reused)) reused from the devices)" : ")")
  }

  /// `current` updated by a report: the counts only grow within one round of an update, so each is the largest
  /// seen (a report that arrived late changes nothing). Nil when neither has counts.
  public static func merge(_ current: TransferBytes?, _ report: StatusReport) -> TransferBytes? {
    guard let fetched = report.fetched else { return current }
    let total = report.total ?? current?.total ?? 0
    guard let current else { return TransferBytes(total: total, fetched: fetched, reused: report.reused ?? 0) }
    return TransferBytes(
      total: max(current.total, total), fetched: max(current.fetched, fetched),
      reused: max(current.reused, report.reused ?? 0))
  }

  /// The sum over several devices (saturating), nil when none has counts.
  public static func sum(_ parts: some Sequence<TransferBytes?>) -> TransferBytes? {
    var result: TransferBytes?
    for part in parts {
      guard let part else { continue }
      var sum = result ?? TransferBytes(total: 0, fetched: 0, reused: 0)
      sum.total = sum.total.addingReportingOverflow(part.total).overflow ? .max : sum.total + part.total
      sum.fetched = sum.fetched.addingReportingOverflow(part.fetched).overflow ? .max : sum.fetched + part.fetched
      sum.reused = sum.reused.addingReportingOverflow(part.reused).overflow ? .max : sum.reused + part.reused
      result = sum
    }
    return result
  }
}
