import AirliftCore
import Testing

@Suite("SemVer 2.0")
struct SemanticVersionTests {
  @Test("precedence follows the specification's example chain")
  func precedence() throws {
    let chain = try [
      "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
      "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0",
    ]
    .map { try SemanticVersion($0) }
    for (lower, higher) in zip(chain, chain.dropFirst()) {
      #expect(lower < higher, "\(lower) < \(higher)")
      #expect(!(higher < lower))
    }
  }

  @Test("build metadata does not count for precedence but is kept")
  func buildMetadata() throws {
    let a = try SemanticVersion("1.2.3+build.5")
    #expect(a == (try SemanticVersion("1.2.3+other")))
    #expect(a.description == "1.2.3+build.5")
    #expect(a.build == ["build", "5"])
  }

  @Test(
    "invalid versions are refused with a reason",
    arguments: [
      "", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-", "1.2.3-01", "1.2.3+", "a.b.c", "1.2.3-a..b", "v1.2.3",
    ])
  func invalid(text: String) {
    #expect(throws: AirliftCoreError.self) { try SemanticVersion(text) }
  }
}

@Suite("Device states")
struct DeviceStateTests {
  @Test("the graph read off the update machine is the one DESIGN.md draws, and nothing else")
  func graph() {
    let drawn: [(DeviceState, DeviceState)] = [
      // The happy path, with and without a reboot; already installed.
      (.pending, .downloading), (.downloading, .downloaded), (.downloaded, .installing), (.installing, .rebooting),
      (.installing, .verifying), (.rebooting, .verifying), (.verifying, .successful), (.pending, .successful),
      // Transient download failures.
      (.downloading, .retrying), (.retrying, .downloading),
      // Failures from every unfinished state, then the rollback; the operator's rollback.
      (.pending, .failed), (.downloading, .failed), (.retrying, .failed), (.downloaded, .failed),
      (.installing, .failed), (.rebooting, .failed), (.verifying, .failed), (.failed, .rolledBack),
      (.successful, .rolledBack),
    ]
    let expected = Set(drawn.map { DeviceState.Move(from: $0.0, to: $0.1) })
    #expect(
      DeviceState.moves.subtracting(expected).isEmpty,
      "the machine does more: \(DeviceState.moves.subtracting(expected))")
    #expect(
      expected.subtracting(DeviceState.moves).isEmpty,
      "the machine never does: \(expected.subtracting(DeviceState.moves))")
    #expect(DeviceState.downloading.canMove(to: .downloading), "progress repeats a state")
    #expect(DeviceState.failed.canMove(to: .failed), "a failed rollback reports Failed again")
  }

  @Test(
    "the controller's view: a newer numbered report moves it even past lost ones; an older one, or one reopening a finished update, does not",
    arguments: [
      // (current, its seq, report, its seq, moves?)
      (DeviceState.pending, Int64?.none, DeviceState.downloading, Int64?.some(1), true),
      (.pending, 1, .installing, 5, true),  // Downloading and Downloaded were lost: they come later, as history
      (.installing, 5, .downloaded, 4, false),  // that late one
      (.installing, 5, .installing, 5, false),  // a repeat
      (.verifying, 7, .successful, 8, true),
      (.successful, 8, .downloading, 9, false),  // a finished update is not reopened
      (.successful, 8, .rolledBack, 9, true),  // except by the operator's rollback
      (.failed, nil, .successful, 9, false),  // the controller timed it out: it stays failed
      (.failed, 6, .failed, 7, true),  // the rollback failed too: the newer error counts
      (.pending, nil, .installing, nil, false),  // unnumbered: only moves of the graph
      (.pending, nil, .downloading, nil, true),
      (.downloading, nil, .failed, nil, true),
      (.installing, nil, .successful, nil, true),  // or the end of the update
    ])
  func reportMoves(current: DeviceState, currentSeq: Int64?, next: DeviceState, seq: Int64?, moves: Bool) {
    #expect(DeviceState.reportMoves(from: current, currentSeq: currentSeq, to: next, seq: seq) == moves)
  }

  @Test(
    "finished devices never move back, and no stage is skipped into success",
    arguments: [
      (DeviceState.successful, DeviceState.downloading), (.failed, .installing), (.rolledBack, .failed),
      (.downloaded, .successful), (.downloading, .successful), (.successful, .failed), (.installing, .successful),
      (.pending, .retrying),
    ])
  func refused(from: DeviceState, to: DeviceState) {
    #expect(!from.canMove(to: to))
  }

  @Test("terminal states")
  func terminal() {
    #expect(DeviceState.allCases.filter(\.isTerminal) == [.successful, .failed, .rolledBack])
  }
}

@Suite("Byte ranges and progress")
struct RangeAndProgressTests {
  @Test("several ranges, in order and apart, are read; overlapping, backwards or too many are refused")
  func multipleRanges() throws {
    #expect(try ByteRange.ranges("bytes=0-9, 20-29,40-", size: 50) == [0...9, 20...29, 40...49])
    #expect(try ByteRange.ranges("bytes=5-9", size: 50) == [5...9])
    #expect(try ByteRange.ranges("items=0-1", size: 50) == nil)
    for header in ["bytes=0-9,5-20", "bytes=20-29,0-9", "bytes=0-9,,20-29", "bytes=0-9,60-70"] {
      #expect(throws: AirliftCoreError.self, "\(header)") { try ByteRange.ranges(header, size: 50) }
    }
    let many = "bytes=" + (0...ByteRange.maxRanges).map { "\($0 * 2)-\($0 * 2)" }.joined(separator: ",")
    #expect(throws: AirliftCoreError.self) { try ByteRange.ranges(many, size: 1 << 20) }
  }

  @Test(
    "Range headers resolve against the file size",
    arguments: [
      ("bytes=0-99", 0...99), ("bytes=100-", 100...999), ("bytes=-100", 900...999), ("bytes=900-5000", 900...999),
      ("bytes=-5000", 0...999),
    ] as [(String, ClosedRange<Int64>)])
  func ranges(header: String, expected: ClosedRange<Int64>) throws {
    #expect(try ByteRange.parse(header, size: 1000) == expected)
  }

  @Test(
    "unsatisfiable or unsupported byte ranges are refused",
    arguments: ["bytes=1000-", "bytes=5-1", "bytes=0-1,3-4", "bytes=-0", "bytes=x-", "bytes=", " BYTES=9-2"])
  func badRanges(header: String) {
    #expect(throws: AirliftCoreError.invalidRange(header)) { try ByteRange.parse(header, size: 1000) }
  }

  @Test(
    "a range in another unit, or no unit, is ignored: the whole file (RFC 9110 §14.2)",
    arguments: ["items=0-1", "l2({", "", "0-99", "bytes 0-99"])
  func foreignRanges(header: String) throws {
    #expect(try ByteRange.parse(header, size: 1000) == nil)
  }
}
