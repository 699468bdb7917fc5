import AirliftCore
import Foundation
import Testing

@Suite("What a download cost: merged from reports, summed, said")
struct TransferBytesTests {
  static func report(fetched: Int64?, reused: Int64? = nil, total: Int64? = 1000) -> StatusReport {
    var report = StatusReport(deployment: "d", state: .downloading, total: total)
    report.fetched = fetched
    report.reused = reused
    return report
  }

  @Test("counts only grow within a round: a late report changes nothing; a report without counts keeps them")
  func mergeKeepsTheLargest() {
    let first = TransferBytes.merge(nil, Self.report(fetched: 100, reused: 300))
    #expect(first == TransferBytes(total: 1000, fetched: 100, reused: 300))
    let later = TransferBytes.merge(first, Self.report(fetched: 250, reused: 700))
    #expect(later == TransferBytes(total: 1000, fetched: 250, reused: 700))
    #expect(TransferBytes.merge(later, Self.report(fetched: 120, reused: 300)) == later)
    #expect(TransferBytes.merge(later, Self.report(fetched: nil)) == later)
    #expect(TransferBytes.merge(nil, Self.report(fetched: nil)) == nil)
    #expect(
      TransferBytes.merge(nil, Self.report(fetched: 5, total: nil)) == TransferBytes(total: 0, fetched: 5, reused: 0))
  }

  @Test("the saving: share of the total that did not travel; the sum over devices saturates")
  func savingAndSum() throws {
    let delta = TransferBytes(total: 1 << 20, fetched: 1 << 16, reused: (1 << 20) - (1 << 16))
    #expect(delta.savedPercent == 93.75)
    #expect(delta.summary == "64.0 KiB fetched of 1.0 MiB (93.8 % saved; 960.0 KiB reused from the devices)")
    #expect(TransferBytes(total: 100, fetched: 150, reused: 0).savedPercent == -50)
    #expect(TransferBytes(total: 0, fetched: 0, reused: 0).summary == "0 B fetched of 0 B")
    let sum = try #require(TransferBytes.sum([delta, nil, delta]))
    #expect(sum == TransferBytes(total: 2 << 20, fetched: 2 << 16, reused: 2 * ((1 << 20) - (1 << 16))))
    #expect(TransferBytes.sum([nil, nil]) == nil)
    let huge = TransferBytes(total: .max, fetched: .max, reused: .max)
    #expect(TransferBytes.sum([huge, huge]) == huge)
  }
}
