import AirliftCore
import AirliftCrypto
import Testing

@Suite("The chunk index in segments: a device fetches the signed head and only the segments it lacks")
struct ChunkIndexSegmentTests {
  /// About 800 chunks of 8 KiB: past `ChunkIndex.segmentedMinimum`.
  static func asset(seed: UInt64) -> [UInt8] {
    var random = SeededBytes(seed: seed)
    return random.next(6 << 20)
  }

  @Test("a large index is written in segments of 8 to 256 entries and reads back whole, from the file or in parts")
  func roundTrip() throws {
    let index = ChunkIndexTests.index(Self.asset(seed: 11))
    #expect(index.chunks.count >= ChunkIndex.segmentedMinimum && index.isSegmented)
    let (head, bodies) = index.encoded(sha256: ChunkIndex.sha256)
    #expect(head[4] == 5 && head[57] & 2 == 2, "version 5, segmented")
    let segments = index.segments
    #expect(segments.first?.lowerBound == 0 && segments.last?.upperBound == index.chunks.count)
    for (a, b) in zip(segments, segments.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
    for segment in segments.dropLast() { #expect((8...256).contains(segment.count), "\(segment.count) entries") }
    #expect(bodies.count == segments.count)
    // The head is a small part of the index: about 17 bytes a segment, against 19 a chunk.
    #expect(head.count < 100 + segments.count * 20)
    let whole = head + bodies.joined()
    #expect(try ChunkIndex(decoding: whole) == index)
    let read = try ChunkIndexHead(decoding: head)
    #expect(read.whole == nil && read.size == head.count && read.count == index.chunks.count)
    #expect(read.segments.first?.offset == Int64(head.count))
    for (segment, body) in zip(read.segments, bodies) {
      #expect(Array(whole[Int(segment.offset)..<(Int(segment.offset) + segment.length)]) == body)
    }
    #expect(try ChunkIndex(head: read, bodies: bodies) == index)
    // The head read from the whole file is the same head.
    #expect(try ChunkIndexHead(decoding: whole) == read)
  }

  @Test("a small edit changes a few segments: the rest are the earlier index's, byte for byte")
  func locality() throws {
    let before = Self.asset(seed: 12)
    var after = before
    for offset in 3_000_000..<3_000_100 { after[offset] ^= 0x5a }
    after.insert(contentsOf: [UInt8](repeating: 7, count: 5000), at: 1_000_000)
    let old = ChunkIndexTests.index(before)
    let new = ChunkIndexTests.index(after)
    let known = Set(old.segmentBodies())
    let missing = new.segmentBodies().filter { !known.contains($0) }
    #expect(!missing.isEmpty && missing.count <= 6, "\(missing.count) of \(new.segments.count) segments changed")
    let total = new.encoded().count
    let fetched = new.encoded(sha256: ChunkIndex.sha256).head.count + missing.reduce(0) { $0 + $1.count }
    #expect(fetched * 5 < total, "\(fetched) of \(total) index bytes to fetch")
  }

  @Test("a tampered, swapped or missing segment is refused, and says which")
  func tampered() throws {
    let index = ChunkIndexTests.index(Self.asset(seed: 13))
    let (head, bodies) = index.encoded(sha256: ChunkIndex.sha256)
    let read = try ChunkIndexHead(decoding: head)
    func refusal(_ bodies: [[UInt8]]) -> String {
      do {
        _ = try ChunkIndex(head: read, bodies: bodies)
        return "accepted"
      } catch {
        return error.description
      }
    }
    var flipped = bodies
    flipped[2][5] ^= 1
    #expect(refusal(flipped).contains("segment 3 does not match its key in the signed head"))
    var swapped = bodies
    swapped.swapAt(0, 1)
    #expect(refusal(swapped).contains("segment 1 does not match"))
    #expect(refusal(Array(bodies.dropLast())).contains("were given"))
    // A body forged to match would need a second preimage of its key; one consistent with a forged head
    // still has to add up to the asset.
    var whole = head + bodies.joined()
    whole.removeLast()
    #expect(throws: ChunkIndexError.self) { try ChunkIndex(decoding: whole) }
    var table = head
    table[head.count - 1] ^= 1
    #expect(throws: ChunkIndexError.self) { try ChunkIndex(decoding: table + bodies.joined()) }
  }

  @Test("a run of identical chunks (an image's free space) makes identical segments: fetched once")
  func repeatedRuns() throws {
    // 24 MiB of zeros: 768 chunks of the largest size, all alike, so at least two whole segments alike.
    var bytes = Self.asset(seed: 14)
    bytes.insert(contentsOf: [UInt8](repeating: 0, count: 24 << 20), at: 1 << 20)
    let index = ChunkIndexTests.index(bytes)
    let bodies = index.segmentBodies()
    #expect(Set(bodies).count < bodies.count, "\(Set(bodies).count) distinct of \(bodies.count)")
  }

  @Test("a small index carries its entries in the head: one request, as before")
  func small() throws {
    var random = SeededBytes(seed: 15)
    let index = ChunkIndexTests.index(random.next(500_000))
    #expect(!index.isSegmented && index.segments.isEmpty)
    let (head, bodies) = index.encoded(sha256: ChunkIndex.sha256)
    #expect(bodies.isEmpty)
    #expect(try ChunkIndexHead(decoding: head).whole == index)
  }
}
