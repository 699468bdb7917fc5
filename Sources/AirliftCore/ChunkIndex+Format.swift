/// SHA-256 of some bytes: the index format needs one for its segments' keys and takes it from the caller (the
/// core has no hashing of its own; AirliftCrypto gives OpenSSL's).
public typealias SHA256Function = @Sendable ([UInt8]) -> [UInt8]

extension ChunkIndex {
  /// Indexes of this many chunks and more are written in segments (16 MiB of asset at 32 KiB chunks); smaller
  /// ones carry their entries in the head, where a second request would cost more than it saves.
  public static let segmentedMinimum = 512
  /// Entries a segment has: it ends after a chunk whose key's first byte has its low five bits clear (one in 32,
  /// so about 40 entries), or at the most.
  static let segmentEntries = 8...256
  static let segmentBoundaryMask: UInt8 = 0x1f
  /// The bytes an entry takes at most: two five-byte varints and a key.
  static let entryMaximum = 10 + ChunkKey.size

  /// Whether the index is written in segments.
  public var isSegmented: Bool { chunks.count >= Self.segmentedMinimum }

  /// The chunk positions of each segment, in order (none when the index is not segmented). The boundaries
  /// depend only on the chunks' keys, so the segments of an unchanged run of chunks are the same in two
  /// versions' indexes.
  public var segments: [Range<Int>] {
    guard isSegmented else { return [] }
    var ranges: [Range<Int>] = []
    var start = 0
    for (position, chunk) in chunks.enumerated() {
      let entries = position + 1 - start
      if entries == Self.segmentEntries.upperBound
        || (entries >= Self.segmentEntries.lowerBound && chunk.digest.bytes[0] & Self.segmentBoundaryMask == 0)
      {
        ranges.append(start..<(position + 1))
        start = position + 1
      }
    }
    if start < chunks.count { ranges.append(start..<chunks.count) }
    return ranges
  }

  /// Each segment's body as stored, in order (none when the index is not segmented): what a device that keeps
  /// this index need not fetch again for another version's index.
  public func segmentBodies() -> [[UInt8]] { segments.map(entries) }

  /// The index as stored and served: the head (what the signed manifest's digest covers) and, when segmented,
  /// the segments' bodies that follow it.
  public func encoded(sha256: SHA256Function) -> (head: [UInt8], bodies: [[UInt8]]) {
    var head: [UInt8] = []
    head += Self.magic + [5]
    for value in [parameters.minimum, parameters.average, parameters.maximum] { head.appendBigEndian(UInt32(value)) }
    head.appendBigEndian(UInt64(assetSize))
    head += assetDigest.bytes
    head.append((pack == nil ? 0 : 1) | (isSegmented ? 2 : 0))
    if let pack {
      head.appendBigEndian(UInt64(pack.size))
      head += pack.digest.bytes
    }
    head.appendBigEndian(UInt32(chunks.count))
    guard isSegmented else { return (head + entries(0..<chunks.count), []) }
    let bodies = segmentBodies()
    head.appendBigEndian(UInt32(bodies.count))
    for body in bodies {
      head.appendVarint(UInt32(body.count))
      head += ChunkKey(sha256(body))!.bytes
    }
    return (head, bodies)
  }

  /// The stored entries of the chunks at `positions`.
  func entries(_ positions: Range<Int>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(positions.count * (pack == nil ? 19 : 22))
    for chunk in chunks[positions] {
      out.appendVarint(UInt32(chunk.length))
      if pack != nil { out.appendVarint(UInt32(chunk.packedLength)) }
      out += chunk.digest.bytes
    }
    return out
  }

  /// Reads a whole stored index (versions 1 to 5, a segmented one with its bodies), checking it as
  /// `init(head:bodies:sha256:)` does.
  public init(decoding bytes: [UInt8], sha256: SHA256Function) throws(ChunkIndexError) {
    let head = try ChunkIndexHead(decoding: bytes)
    if let whole = head.whole {
      guard head.size == bytes.count else {
        throw .malformed("it has \(bytes.count - head.size) bytes after its last chunk")
      }
      self = whole
      return
    }
    guard let last = head.segments.last, last.offset + Int64(last.length) == Int64(bytes.count) else {
      throw .malformed("its segments do not end where the index ends (\(bytes.count) bytes)")
    }
    let bodies = head.segments.map { Array(bytes[Int($0.offset)..<(Int($0.offset) + $0.length)]) }
    try self.init(head: head, bodies: bodies, sha256: sha256)
  }

  /// Puts an index together from its head and every segment's body in order (fetched, or known from another
  /// index), checking each body against its key in the head and the whole as an index without segments is.
  public init(head: ChunkIndexHead, bodies: [[UInt8]], sha256: SHA256Function) throws(ChunkIndexError) {
    if let whole = head.whole {
      self = whole
      return
    }
    guard bodies.count == head.segments.count else {
      throw .malformed("it has \(head.segments.count) segments, \(bodies.count) were given")
    }
    var entries: [RawEntry] = []
    entries.reserveCapacity(head.count)
    for (number, (segment, body)) in zip(head.segments, bodies).enumerated() {
      guard body.count == segment.length, ChunkKey(sha256(body)) == segment.key else {
        throw .malformed("segment \(number + 1) does not match its key in the signed head")
      }
      var reader = ByteReader(body)
      while reader.position < body.count {
        guard entries.count < head.count else {
          throw .malformed("its segments hold more than the \(head.count) chunks it has")
        }
        do {
          entries.append(try reader.entry(varints: true, packed: head.pack != nil, keySize: ChunkKey.size))
        } catch {
          throw .malformed("chunk \(entries.count + 1) (in segment \(number + 1)) \(error.reason)")
        }
      }
    }
    self = try Self.checked(head, entries)
  }

  /// The index the entries make, checked: every chunk within the parameters (only the last may be shorter
  /// than the minimum), frames that fit their chunks, and lengths that add up to the asset and the pack.
  static func checked(_ head: ChunkIndexHead, _ entries: [RawEntry]) throws(ChunkIndexError) -> ChunkIndex {
    guard entries.count == head.count else {
      throw .malformed("it has \(entries.count) chunks, its header says \(head.count)")
    }
    var chunks: [Chunk] = []
    chunks.reserveCapacity(entries.count)
    var offset: Int64 = 0
    var packedOffset: Int64 = 0
    for (number, entry) in entries.enumerated() {
      let last = number == entries.count - 1
      guard entry.length >= 1, Int(entry.length) <= head.parameters.maximum,
        last || Int(entry.length) >= head.parameters.minimum
      else {
        throw .malformed("chunk \(number + 1) has \(entry.length) bytes, outside \(head.parameters)")
      }
      guard head.pack == nil || (1...packedBound(Int(entry.length))).contains(Int(entry.packed)) else {
        throw .malformed("chunk \(number + 1)'s frame has \(entry.packed) bytes for \(entry.length)")
      }
      chunks.append(
        Chunk(
          offset: offset, length: Int(entry.length), digest: entry.key, packedOffset: packedOffset,
          packedLength: Int(entry.packed)))
      offset += Int64(entry.length)
      packedOffset += Int64(entry.packed)
    }
    guard offset == head.assetSize else {
      throw .malformed("its chunks add up to \(offset) bytes, the asset has \(head.assetSize)")
    }
    if let pack = head.pack, packedOffset != pack.size {
      throw .malformed("its frames add up to \(packedOffset) bytes, the pack has \(pack.size)")
    }
    return ChunkIndex(
      parameters: head.parameters, assetSize: head.assetSize, assetDigest: head.assetDigest, chunks: chunks,
      pack: head.pack)
  }
}

/// The signed part of a stored chunk index: the header, and either every
/// chunk's entry (an index without segments: then it is the whole index)
/// or the segment table, which says where each segment's body is in the
/// stored index and what its key is.
public struct ChunkIndexHead: Sendable, Equatable {
  /// A segment's body: where it is in the stored index, its length and the first 16 bytes of its SHA-256.
  public struct Segment: Sendable, Equatable {
    public var offset: Int64
    public var length: Int
    public var key: ChunkKey
  }

  public var parameters: ChunkingParameters
  public var assetSize: Int64
  public var assetDigest: ChunkDigest
  public var pack: ChunkIndex.Pack?
  /// Chunks of the asset.
  public var count: Int
  /// The whole index, when the head carries every entry itself.
  public var whole: ChunkIndex?
  public var segments: [Segment]
  /// Bytes the head takes at the start of the stored index.
  public var size: Int

  /// Reads the head at the start of `bytes` (the signed part alone, or the whole stored index).
  public init(decoding bytes: [UInt8]) throws(ChunkIndexError) {
    var reader = ByteReader(bytes)
    guard reader.take(4) == ChunkIndex.magic[...], let version = reader.take(1)?.first, (1...5).contains(version)
    else {
      throw .malformed("it does not start with the chunk index magic (ACIX, version 1 to 5)")
    }
    guard let minimum = reader.uint32(), let average = reader.uint32(), let maximum = reader.uint32(),
      let size = reader.uint64(), let assetDigest = reader.take(32).flatMap(ChunkDigest.init)
    else { throw .malformed("its header is cut short") }
    // Version 2 always had a pack and no flags; versions 3 to 5 say with bit 0 of their flags, 5 with bit 1
    // whether the entries are in segments.
    var (hasPack, segmented) = (version == 2, false)
    if version >= 3 {
      guard let flags = reader.take(1)?.first else { throw .malformed("its header is cut short") }
      let known: UInt8 = version == 5 ? 3 : 1
      guard flags & ~known == 0 else { throw .malformed("it has flags \(flags) this agent does not know") }
      (hasPack, segmented) = (flags & 1 == 1, flags & 2 == 2)
    }
    if hasPack {
      guard let packSize = reader.uint64(), let packDigest = reader.take(32).flatMap(ChunkDigest.init) else {
        throw .malformed("its header is cut short")
      }
      guard packSize <= UInt64(Int64.max) else { throw .malformed("pack size \(packSize) is out of range") }
      pack = ChunkIndex.Pack(size: Int64(packSize), digest: packDigest)
    }
    guard let count = reader.uint32() else { throw .malformed("its header is cut short") }
    parameters = ChunkingParameters(minimum: Int(minimum), average: Int(average), maximum: Int(maximum))
    guard parameters.isValid else { throw .malformed("chunk sizes \(parameters) are not usable") }
    guard size <= UInt64(Int64.max) else { throw .malformed("asset size \(size) is out of range") }
    // Every chunk but the last has at least the minimum: a count past that is forged (and is not reserved for).
    guard UInt64(count) <= size / UInt64(parameters.minimum) + 1 else {
      throw .malformed("\(count) chunks of at least \(parameters.minimum) bytes do not fit in \(size)")
    }
    (assetSize, self.assetDigest, self.count) = (Int64(size), assetDigest, Int(count))
    if segmented {
      guard let segmentCount = reader.uint32() else { throw .malformed("its segment table is cut short") }
      guard (1...max(count, 1)).contains(segmentCount),
        Int(segmentCount) * (1 + ChunkKey.size) <= bytes.count - reader.position
      else { throw .malformed("it names \(segmentCount) segments for \(count) chunks, in \(bytes.count) bytes") }
      var table: [(length: Int, key: ChunkKey)] = []
      table.reserveCapacity(Int(segmentCount))
      let longest = ChunkIndex.segmentEntries.upperBound * ChunkIndex.entryMaximum
      for number in 0..<Int(segmentCount) {
        guard let length = reader.varint(), (1...longest).contains(Int(length)),
          let key = reader.take(ChunkKey.size).flatMap(ChunkKey.init)
        else { throw .malformed("segment \(number + 1) of its table is cut short or out of range") }
        table.append((Int(length), key))
      }
      self.size = reader.position
      var offset = Int64(reader.position)
      segments = table.map { entry in
        defer { offset += Int64(entry.length) }
        return Segment(offset: offset, length: entry.length, key: entry.key)
      }
      whole = nil
      return
    }
    let keySize = version >= 3 ? ChunkKey.size : 32
    let varints = version >= 4
    // Each chunk's bytes: fixed before version 4; at least that many with varints (one byte a length).
    let entry = (varints ? 1 : 4) * (pack == nil ? 1 : 2) + keySize
    let remaining = bytes.count - reader.position
    guard Int(count) * entry <= remaining, varints || Int(count) * entry == remaining else {
      throw .malformed(
        "\(count) chunks need \(varints ? "at least " : "")\(reader.position + Int(count) * entry) bytes, it has \(bytes.count)"
      )
    }
    var entries: [RawEntry] = []
    entries.reserveCapacity(Int(count))
    for number in 0..<Int(count) {
      do {
        entries.append(try reader.entry(varints: varints, packed: pack != nil, keySize: keySize))
      } catch {
        throw .malformed("chunk \(number + 1) \(error.reason)")
      }
    }
    segments = []
    self.size = reader.position
    whole = try ChunkIndex.checked(self, entries)
  }
}

/// One chunk's entry as stored: its length, its frame's length (0 without a pack) and its key.
struct RawEntry {
  var length: UInt32
  var packed: UInt32
  var key: ChunkKey
}

extension [UInt8] {
  mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
  }

  /// Unsigned LEB128: seven bits a byte, low first, the top bit set on all but the last.
  mutating func appendVarint(_ value: UInt32) {
    var rest = value
    while rest >= 0x80 {
      append(UInt8(rest & 0x7f) | 0x80)
      rest >>= 7
    }
    append(UInt8(rest))
  }
}

/// Reads big-endian fields off a byte array; nil when it runs out.
struct ByteReader {
  /// Why an entry could not be read.
  struct EntryError: Error {
    let reason: String
  }

  let bytes: [UInt8]
  var position = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
    guard bytes.count - position >= count else { return nil }
    defer { position += count }
    return bytes[position..<(position + count)]
  }

  mutating func uint32() -> UInt32? { take(4).map { $0.reduce(0) { $0 << 8 | UInt32($1) } } }
  mutating func uint64() -> UInt64? { take(8).map { $0.reduce(0) { $0 << 8 | UInt64($1) } } }

  /// An unsigned LEB128 number of at most 32 bits in its shortest form; nil when cut short, longer, or padded.
  mutating func varint() -> UInt32? {
    var value: UInt64 = 0
    for shift in stride(from: 0, to: 35, by: 7) {
      guard let byte = take(1)?.first else { return nil }
      value |= UInt64(byte & 0x7f) << UInt64(shift)
      if byte & 0x80 == 0 {
        guard value <= UInt64(UInt32.max), byte != 0 || shift == 0 else { return nil }
        return UInt32(value)
      }
    }
    return nil
  }

  /// One chunk's entry: lengths as varints (version 4 on) or UInt32s, then its key.
  mutating func entry(varints: Bool, packed: Bool, keySize: Int) throws(EntryError) -> RawEntry {
    let length = varints ? varint() : uint32()
    let frame = packed ? (varints ? varint() : uint32()) : 0
    guard let length, let frame, let key = take(keySize).flatMap(ChunkKey.init) else {
      throw EntryError(reason: "is cut short or has a length that is not a 32-bit varint")
    }
    return RawEntry(length: length, packed: frame, key: key)
  }
}
