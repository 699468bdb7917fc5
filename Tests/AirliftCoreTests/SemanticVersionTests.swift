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
  @Test(
    "the happy path, already-installed, the failure paths and an operator rollback are allowed",
    arguments: [
      (DeviceState.pending, DeviceState.downloading), (.downloading, .downloaded), (.downloaded, .installing),
      (.installing, .successful), (.installing, .rebooting), (.rebooting, .verifying), (.verifying, .successful),
      (.downloading, .retrying), (.retrying, .downloading), (.installing, .failed), (.failed, .rolledBack),
      (.downloading, .downloading), (.pending, .successful), (.successful, .rolledBack),
    ])
  func allowed(from: DeviceState, to: DeviceState) {
    #expect(from.canMove(to: to))
  }

  @Test(
    "finished devices never move back, and no stage is skipped into success",
    arguments: [
      (DeviceState.successful, DeviceState.downloading), (.failed, .installing), (.rolledBack, .failed),
      (.downloaded, .successful), (.downloading, .successful), (.successful, .failed),
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
