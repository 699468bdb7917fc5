import AirliftCore
import AirliftCrypto
import Testing

/// Bytes that look random but are the same on every run.
struct SeededBytes {
  var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next(_ count: Int) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      z ^= z >> 31
      withUnsafeBytes(of: z) { out.append(contentsOf: $0) }
    }
    return Array(out.prefix(count))
  }
}

@Suite("Content-defined chunks and the chunk index")
struct ChunkIndexTests {
  static let small = ChunkingParameters(minimum: 2 << 10, average: 8 << 10, maximum: 32 << 10)

  static func index(_ bytes: [UInt8], _ parameters: ChunkingParameters = small, pieces: Int = 1 << 20) -> ChunkIndex {
    let builder = ChunkIndexBuilder(parameters: parameters)
    var start = 0
    while start < bytes.count {
      builder.update(bytes[start..<min(start + pieces, bytes.count)])
      start += pieces
    }
    return builder.finalize()
  }

  @Test("chunks cover the asset in order, within the sizes, near the average; the digests are the chunks'")
  func coverage() throws {
    var random = SeededBytes(seed: 1)
    let bytes = random.next(2 << 20)
    let index = Self.index(bytes)
    #expect(index.assetSize == Int64(bytes.count))
    #expect(index.assetDigest.description == SHA256Hasher.hex(of: bytes))
    #expect(index.chunks.first?.offset == 0 && index.chunks.last?.end == Int64(bytes.count))
    for (a, b) in zip(index.chunks, index.chunks.dropFirst()) { #expect(a.end == b.offset) }
    for chunk in index.chunks.dropLast() {
      #expect(chunk.length >= Self.small.minimum && chunk.length <= Self.small.maximum)
    }
    let average = bytes.count / index.chunks.count
    #expect(average > Self.small.average / 2 && average < Self.small.average * 2, "average chunk \(average) B")
    let third = index.chunks[3]
    let slice = bytes[Int(third.offset)..<Int(third.end)]
    // A chunk's key is the first 16 bytes of its SHA-256.
    #expect(third.digest.description == String(SHA256Hasher.hex(of: slice).prefix(32)))
  }

  @Test("the same bytes give the same index however they arrive: 1 byte, 1000 bytes or 1 MiB at a time")
  func streaming() {
    var random = SeededBytes(seed: 2)
    let bytes = random.next(300_000)
    let whole = Self.index(bytes, pieces: bytes.count)
    #expect(Self.index(bytes, pieces: 1) == whole)
    #expect(Self.index(bytes, pieces: 1000) == whole)
    #expect(Self.index(bytes, pieces: 1 << 20) == whole)
  }

  @Test("an insertion moves only the boundaries next to it: the rest is reused")
  func insertion() {
    var random = SeededBytes(seed: 3)
    let old = random.next(1 << 20)
    var new = old
    new.insert(contentsOf: random.next(100), at: 500_000)
    new.replaceSubrange(800_000..<800_010, with: random.next(10))
    let plan = DeltaPlan(Self.index(new), available: Set(Self.index(old).chunks.map(\.digest)))
    #expect(plan.fetched + plan.reused == Int64(new.count))
    // Two small edits: a few chunks around each (8 KiB average) are fetched, not the megabyte.
    #expect(plan.fetched < 150_000, "fetched \(plan.fetched) of \(new.count)")
    #expect(plan.requests.count == 1 && plan.requests[0].count == 2)
  }

  @Test("short and empty assets: one chunk, or none")
  func short() {
    #expect(Self.index([]).chunks.isEmpty)
    #expect(Self.index([]).assetDigest.description == SHA256Hasher.hex(of: [UInt8]()))
    let tiny = Self.index([1, 2, 3])
    #expect(tiny.chunks.map(\.length) == [3])
  }

  /// Bytes of `value` as an unsigned LEB128 varint.
  static func varintSize(_ value: Int) -> Int { max(1, (Int.bitWidth - value.leadingZeroBitCount + 6) / 7) }

  @Test("the index round-trips through its bytes: each length a varint, then a 16-byte key")
  func roundTrip() throws {
    var random = SeededBytes(seed: 4)
    let index = Self.index(random.next(200_000))
    let bytes = index.encoded()
    #expect(bytes[4] == 5 && bytes[57] == 0, "version 5, no pack, not segmented")
    #expect(bytes.count == 62 + index.chunks.reduce(0) { $0 + Self.varintSize($1.length) + 16 })
    #expect(Self.varintSize(127) == 1 && Self.varintSize(128) == 2 && Self.varintSize(65536) == 3)
    #expect(try ChunkIndex(decoding: bytes) == index)
    // Version 3 (lengths as UInt32s) still reads.
    var version3 = Array(bytes.prefix(62))
    version3[4] = 3
    for chunk in index.chunks {
      withUnsafeBytes(of: UInt32(chunk.length).bigEndian) { version3 += $0 }
      version3 += chunk.digest.bytes
    }
    #expect(try ChunkIndex(decoding: version3) == index)
  }

  @Test(
    "an index written as version 1, with whole SHA-256s a chunk, still reads: the same chunks, keyed by their first 16 bytes"
  )
  func version1() throws {
    var random = SeededBytes(seed: 6)
    let asset = random.next(120_000)
    let index = Self.index(asset)
    var bytes = Array("ACIX".utf8) + [1]
    for value in [Self.small.minimum, Self.small.average, Self.small.maximum] {
      withUnsafeBytes(of: UInt32(value).bigEndian) { bytes += $0 }
    }
    withUnsafeBytes(of: UInt64(asset.count).bigEndian) { bytes += $0 }
    bytes += index.assetDigest.bytes
    withUnsafeBytes(of: UInt32(index.chunks.count).bigEndian) { bytes += $0 }
    for chunk in index.chunks {
      withUnsafeBytes(of: UInt32(chunk.length).bigEndian) { bytes += $0 }
      bytes += Self.sha256(asset[Int(chunk.offset)..<Int(chunk.end)])
    }
    #expect(bytes.count == 61 + index.chunks.count * 36)
    #expect(try ChunkIndex(decoding: bytes) == index)
    bytes[4] = 6
    #expect(throws: ChunkIndexError.self) { try ChunkIndex(decoding: bytes) }
  }

  static func sha256(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    let hasher = SHA256Hasher()
    hasher.update(bytes)
    return hasher.finalize()
  }

  @Test("a forged or damaged index is refused before anything is fetched by it")
  func malformed() throws {
    var random = SeededBytes(seed: 5)
    let bytes = Self.index(random.next(100_000)).encoded()
    func refusal(_ edit: (inout [UInt8]) -> Void) -> String {
      var copy = bytes
      edit(&copy)
      do {
        _ = try ChunkIndex(decoding: copy)
        return "accepted"
      } catch {
        return error.description
      }
    }
    #expect(refusal { $0[0] = 0x42 }.contains("magic"))
    #expect(refusal { $0.removeLast() }.contains("is cut short"))
    #expect(refusal { $0.append(0) }.contains("1 bytes after its last chunk"))
    #expect(refusal { $0.removeSubrange(63...) }.contains("chunks need at least"))
    #expect(refusal { $0 = Array($0.prefix(20)) }.contains("cut short"))
    // The asset size no longer matches the chunks.
    #expect(refusal { $0[24] ^= 1 }.contains("add up to"))
    // A first chunk longer than the maximum.
    var again = SeededBytes(seed: 5)
    var longer = Self.index(again.next(100_000))
    longer.chunks[0].length = Self.small.maximum + 1
    #expect(refusal { $0 = longer.encoded() }.contains("outside"))
    // The first length as a varint past 32 bits, or padded (not its shortest form).
    let first = Self.varintSize(Int(longer.chunks[1].offset))  // the first chunk's real length
    #expect(
      refusal { $0.replaceSubrange(62..<(62 + first), with: [0xff, 0xff, 0xff, 0xff, 0x7f]) }.contains("malformed"))
    #expect(
      refusal {
        $0[62 + first - 1] |= 0x80
        $0.insert(0, at: 62 + first)
      }.contains("chunk 1 is cut short or"))
    // A flag this reader does not know.
    #expect(refusal { $0[57] = 0x80 }.contains("flags 128"))
    // Sizes no chunker can use (average 0).
    #expect(refusal { $0.replaceSubrange(9..<13, with: [0, 0, 0, 0]) }.contains("not usable"))
    #expect(refusal { _ in } == "accepted")
  }

  @Test("a plan merges touching ranges, splits requests at the range limit, and counts what it reuses")
  func plan() throws {
    var random = SeededBytes(seed: 6)
    let index = Self.index(random.next(400_000))
    let count = index.chunks.count
    #expect(count > 12)
    // Every other chunk is missing, and chunk 5 too: 4, 5 and 6 touch and make one range.
    var available = Set<ChunkKey>()
    for (position, chunk) in index.chunks.enumerated() where position % 2 == 1 && position != 5 {
      available.insert(chunk.digest)
    }
    let plan = DeltaPlan(index, available: available, rangesPerRequest: 3)
    let ranges = plan.requests.flatMap { $0 }
    #expect(ranges.contains { $0.chunks == 4..<7 })
    #expect(plan.requests.allSatisfy { $0.count <= 3 })
    #expect(ranges.reduce(0) { $0 + $1.length } == plan.fetched)
    #expect(
      plan.reused
        == index.chunks.enumerated().filter { available.contains($0.1.digest) }.reduce(0) {
          $0 + Int64($1.1.length)
        })
    #expect(ranges[0].header == "0-\(index.chunks[0].length - 1)")
    let nothing = DeltaPlan(index, available: Set(index.chunks.map(\.digest)))
    #expect(nothing.requests.isEmpty && nothing.fetched == 0)
  }

  @Test(
    "an estimate: a delta where it pays, the whole asset where it has no index, little in common, or other parameters")
  func estimate() {
    var random = SeededBytes(seed: 9)
    let old = random.next(1 << 20)
    var new = old
    new.replaceSubrange(400_000..<400_100, with: random.next(100))
    let oldIndex = Self.index(old)
    let newIndex = Self.index(new)
    let from = ReleaseRef(package: "app", version: "1.0.0")
    let to = ReleaseRef(package: "app", version: "2.0.0")
    let estimate = DeltaEstimate.make(
      from: from, to: to,
      assets: [
        .init(name: "rootfs.img", size: Int64(new.count), index: newIndex, indexSize: 5_000),
        .init(name: "small.conf", size: 900, index: nil, indexSize: 0),
        .init(name: "other.img", size: 1 << 20, index: Self.index(random.next(1 << 20)), indexSize: 4_000),
      ],
      earlier: [oldIndex, Self.index(old, ChunkingParameters(minimum: 1 << 10, average: 4 << 10, maximum: 16 << 10))])
    let plan = DeltaPlan(newIndex, available: Set(oldIndex.chunks.map(\.digest)))
    #expect(
      estimate.assets[0]
        == .init(
          name: "rootfs.img", size: Int64(new.count), fetched: plan.fetched + 5_000, reused: plan.reused, requests: 2))
    #expect(estimate.assets[1].whole?.contains("no chunk index") == true)
    #expect(estimate.assets[1].fetched == 900 && estimate.assets[1].requests == 1)
    #expect(estimate.assets[2].whole?.contains("of it is in app@1.0.0") == true)
    #expect(estimate.transfer.total == Int64(new.count) + 900 + (1 << 20))
    #expect(estimate.transfer.fetched == plan.fetched + 5_000 + 900 + (1 << 20))
    #expect(estimate.requests == 4)
    // Chunks cut with other parameters are no use: the device cuts its copy with the new index's.
    let mismatched = DeltaEstimate.make(
      from: from, to: to, assets: [.init(name: "rootfs.img", size: Int64(new.count), index: newIndex, indexSize: 1)],
      earlier: [Self.index(old, ChunkingParameters(minimum: 1 << 10, average: 4 << 10, maximum: 16 << 10))])
    #expect(mismatched.assets[0].whole?.contains("has no chunk index to take chunks from") == true)
  }
}
