import AirliftCompression
import AirliftCore
import AirliftCrypto
import Testing

@Suite("Chunk packs: every chunk a zstd frame, placed by the index")
struct ChunkPackTests {
  /// Bytes that compress about in half: random, but only 16 letters.
  static func text(_ count: Int, seed: UInt64) -> [UInt8] {
    var random = SeededBytes(seed: seed)
    let letters = Array("abcdefghijklmnop".utf8)
    return random.next(count).map { letters[Int($0 & 15)] }
  }

  /// `bytes` with its index and pack, the way the controller makes them.
  static func packed(_ bytes: [UInt8]) -> (index: ChunkIndex, pack: [UInt8]) {
    let index = ChunkIndexTests.index(bytes)
    let compressor = ZstdCompressor()
    var pack: [UInt8] = []
    var lengths: [Int] = []
    for chunk in index.chunks {
      let frame = bytes[Int(chunk.offset)..<Int(chunk.end)].withUnsafeBytes { compressor.compress($0) }
      pack += frame
      lengths.append(frame.count)
    }
    let digest = ChunkDigest(SHA256Hasher.digest(of: pack))!
    return (index.packed(ChunkIndex.Pack(size: Int64(pack.count), digest: digest), frameLengths: lengths), pack)
  }

  @Test("a frame inflates to its chunk; a damaged frame, or one holding more than the chunk, is refused")
  func frames() throws {
    let chunk = Self.text(40_000, seed: 1)
    let frame = chunk.withUnsafeBytes { ZstdCompressor().compress($0) }
    #expect(frame.count < chunk.count * 2 / 3, "\(frame.count) bytes for \(chunk.count)")
    let inflater = ZstdDecompressor()
    #expect(try frame.withUnsafeBytes { try inflater.decompress($0, size: chunk.count) } == chunk)
    // The index says the chunk is shorter than the frame holds: nothing past the index's length is written.
    #expect(throws: ZstdError.wrongSize(expected: 1_000, got: 40_000)) {
      try frame.withUnsafeBytes { try inflater.decompress($0, size: 1_000) }
    }
    #expect(throws: ZstdError.wrongSize(expected: 50_000, got: 40_000)) {
      try frame.withUnsafeBytes { try inflater.decompress($0, size: 50_000) }
    }
    var damaged = frame
    damaged[damaged.count / 2] ^= 0xff
    damaged[damaged.count / 2 + 1] ^= 0xff
    #expect(throws: ZstdError.self) { try damaged.withUnsafeBytes { try inflater.decompress($0, size: chunk.count) } }
    #expect(throws: ZstdError.self) {
      try [UInt8]("not zstd".utf8).withUnsafeBytes { try inflater.decompress($0, size: 8) }
    }
  }

  @Test("an index round-trips with its pack; frames sit end to end; a forged frame length is refused")
  func indexVersion2() throws {
    let (index, pack) = Self.packed(Self.text(300_000, seed: 2))
    let bytes = index.encoded()
    #expect(bytes[4] == 5 && bytes[57] == 1, "version 5 with a pack, not segmented")
    #expect(
      bytes.count
        == 62 + 40
        + index.chunks.reduce(0) {
          $0 + ChunkIndexTests.varintSize($1.length) + ChunkIndexTests.varintSize($1.packedLength) + 16
        })
    let decoded = try ChunkIndex(decoding: bytes)
    #expect(decoded == index)
    #expect(decoded.pack?.size == Int64(pack.count))
    for (previous, next) in zip(decoded.chunks, decoded.chunks.dropFirst()) {
      #expect(previous.packedOffset + Int64(previous.packedLength) == next.packedOffset)
    }
    // Without a pack: the same version, its flag clear, no frame lengths.
    var plain = index
    plain.pack = nil
    #expect(
      plain.encoded()[57] == 0
        && plain.encoded().count == 62 + index.chunks.reduce(0) { $0 + ChunkIndexTests.varintSize($1.length) + 16 })
    let decodedPlain = try ChunkIndex(decoding: plain.encoded())
    #expect(decodedPlain.pack == nil && decodedPlain.chunks.map(\.digest) == index.chunks.map(\.digest))
    #expect(decodedPlain.chunks.map(\.length) == index.chunks.map(\.length))
    // A frame longer than zstd could ever make of its chunk, or frames that do not add up to the pack.
    var forged = index
    forged.chunks[0].packedLength = ChunkIndex.packedBound(forged.chunks[0].length) + 1
    #expect(throws: ChunkIndexError.self) { try ChunkIndex(decoding: forged.encoded()) }
    var short = bytes
    short[65] ^= 1
    #expect(throws: ChunkIndexError.self) { try ChunkIndex(decoding: short) }
  }

  @Test("a packed plan fetches frames: ranges of the pack, merged where they touch; the reuse is the same")
  func packedPlan() {
    let old = Self.text(400_000, seed: 3)
    var new = old
    new.replaceSubrange(200_000..<200_050, with: Self.text(50, seed: 4))
    let (index, _) = Self.packed(new)
    let available = Set(ChunkIndexTests.index(old).chunks.map(\.digest))
    let raw = DeltaPlan(index, available: available)
    let packed = DeltaPlan(index, available: available, packed: true)
    #expect(packed.packed && !raw.packed)
    #expect(packed.reused == raw.reused)
    #expect(packed.fetched < raw.fetched)
    let missing = index.chunks.filter { !available.contains($0.digest) }
    #expect(packed.fetched == missing.reduce(0) { $0 + Int64($1.packedLength) })
    #expect(packed.requests.flatMap { $0 }.map(\.offset) == [missing[0].packedOffset])
    // Nothing on the device: the whole pack, one range, worth it because it is about half the asset.
    let first = DeltaPlan(index, available: [], packed: true)
    #expect(first.requests.flatMap { $0 }.count == 1 && first.isWorthwhile)
    #expect(!DeltaPlan(index, available: []).isWorthwhile)
  }
}
