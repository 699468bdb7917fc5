/// A SHA-256 digest as 32 bytes, hashable for lookups of chunks by content.
public struct ChunkDigest: Hashable, Sendable, CustomStringConvertible {
  public let bytes: [UInt8]

  public init?(_ bytes: some Collection<UInt8>) {
    guard bytes.count == 32 else { return nil }
    self.bytes = Array(bytes)
  }

  public var description: String { Self.hex(bytes) }

  static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] }, as: UTF8.self)
  }
}

/// The first 16 bytes of a chunk's SHA-256: what names a chunk in an index
/// and on the device. 128 bits: a forged chunk would need a second preimage
/// of them, and the assembled asset is checked against its full SHA-256
/// besides (zchunk names chunks by 16 bytes too).
public struct ChunkKey: Hashable, Sendable, CustomStringConvertible {
  public let bytes: [UInt8]
  public static let size = 16

  /// The key of a SHA-256 (or of a key): its first 16 bytes; nil for fewer.
  public init?(_ bytes: some Collection<UInt8>) {
    guard bytes.count >= Self.size else { return nil }
    self.bytes = Array(bytes.prefix(Self.size))
  }

  public var description: String { ChunkDigest.hex(bytes) }
}

/// Why a chunk index cannot be used.
public enum ChunkIndexError: Error, Equatable, Sendable, CustomStringConvertible {
  case malformed(String)

  public var description: String {
    switch self {
    case .malformed(let reason): return "the chunk index is malformed: \(reason)"
    }
  }
}

/// The chunks of one asset in order: offset, length and SHA-256 of each,
/// and the parameters they were cut with. Made once per asset (not per pair
/// of versions), kept beside the asset as a blob of its own, and bound to the
/// release by its SHA-256 in the signed manifest, so a device trusts the
/// chunk list exactly as it trusts the asset.
///
/// Format version 4, big-endian (what the controller writes):
///
/// ```
/// "ACIX" 0x04                        magic and version (5 bytes)
/// minimum average maximum            chunking parameters (3 × UInt32)
/// size                               the asset's bytes (UInt64)
/// sha256                             the asset's SHA-256 (32 bytes)
/// flags                              bit 0: the asset has a chunk pack (UInt8)
/// [pack size, pack sha256]           the pack's bytes (UInt64) and SHA-256 (32 bytes), with bit 0
/// count                              chunks (UInt32)
/// count × (length, [frame length], key)
///                                    each chunk: its length and its zstd frame's length in the pack (with
///                                    bit 0), each an unsigned LEB128 varint (3 bytes for 16 KiB to 2 MiB),
///                                    then the first 16 bytes of its SHA-256 (19 to 22 bytes a chunk)
/// ```
///
/// The chunk pack is every chunk as a zstd frame of its own, in order, a
/// blob beside the asset: a device fetches missing chunks as byte ranges of
/// the pack, compressed, and checks each once inflated. Versions 1 to 3 are
/// read, no longer written: 3 had its lengths as UInt32s; 1 and 2 had no
/// flags and whole 32-byte SHA-256s a chunk, 1 no pack, 2 always one. 16 bytes are plenty for a key: the
/// index that lists them is signed, and the rebuilt asset is checked
/// against its whole SHA-256 before anything installs it.
public struct ChunkIndex: Sendable, Equatable {
  public struct Chunk: Sendable, Equatable {
    public var offset: Int64
    public var length: Int
    public var digest: ChunkKey
    /// Where its zstd frame is in the pack (0 when the index has no pack).
    public var packedOffset: Int64
    public var packedLength: Int

    public init(offset: Int64, length: Int, digest: ChunkKey, packedOffset: Int64 = 0, packedLength: Int = 0) {
      self.offset = offset
      self.length = length
      self.digest = digest
      self.packedOffset = packedOffset
      self.packedLength = packedLength
    }

    public var end: Int64 { offset + Int64(length) }
  }

  /// The chunk pack beside the asset: its size and SHA-256.
  public struct Pack: Sendable, Equatable {
    public var size: Int64
    public var digest: ChunkDigest

    public init(size: Int64, digest: ChunkDigest) {
      self.size = size
      self.digest = digest
    }
  }

  public var parameters: ChunkingParameters
  public var assetSize: Int64
  public var assetDigest: ChunkDigest
  public var chunks: [Chunk]
  /// Nil when the asset has no pack (it does not compress, or the index was made before packs).
  public var pack: Pack?

  public init(
    parameters: ChunkingParameters, assetSize: Int64, assetDigest: ChunkDigest, chunks: [Chunk], pack: Pack? = nil
  ) {
    self.parameters = parameters
    self.assetSize = assetSize
    self.assetDigest = assetDigest
    self.chunks = chunks
    self.pack = pack
  }

  static let magic: [UInt8] = Array("ACIX".utf8)
  /// The most a chunk's zstd frame may take (zstd's bound for `length` bytes).
  public static func packedBound(_ length: Int) -> Int {
    length + length >> 8 + (length < 128 << 10 ? ((128 << 10) - length) >> 11 : 0)
  }

  /// The same index with `pack` and each chunk's frame length (in chunk order) recorded.
  public func packed(_ pack: Pack, frameLengths: [Int]) -> ChunkIndex {
    var copy = self
    copy.pack = pack
    var offset: Int64 = 0
    for (position, length) in frameLengths.enumerated() where position < copy.chunks.count {
      copy.chunks[position].packedOffset = offset
      copy.chunks[position].packedLength = length
      offset += Int64(length)
    }
    return copy
  }

  /// The index as stored and served (version 4).
  public func encoded() -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(102 + chunks.count * (pack == nil ? 19 : 22))
    out += Self.magic + [4]
    for value in [parameters.minimum, parameters.average, parameters.maximum] { out.appendBigEndian(UInt32(value)) }
    out.appendBigEndian(UInt64(assetSize))
    out += assetDigest.bytes
    out.append(pack == nil ? 0 : 1)
    if let pack {
      out.appendBigEndian(UInt64(pack.size))
      out += pack.digest.bytes
    }
    out.appendBigEndian(UInt32(chunks.count))
    for chunk in chunks {
      out.appendVarint(UInt32(chunk.length))
      if pack != nil { out.appendVarint(UInt32(chunk.packedLength)) }
      out += chunk.digest.bytes
    }
    return out
  }

  /// Reads an index (versions 1 to 4), checking that it describes a whole asset in chunks the parameters allow,
  /// and frames that fit their chunks and add up to the pack (a forged or truncated index is refused here,
  /// before anything is fetched by it).
  public init(decoding bytes: [UInt8]) throws(ChunkIndexError) {
    var reader = ByteReader(bytes)
    guard reader.take(4) == Self.magic[...], let version = reader.take(1)?.first, (1...4).contains(version) else {
      throw .malformed("it does not start with the chunk index magic (ACIX, version 1 to 4)")
    }
    guard let minimum = reader.uint32(), let average = reader.uint32(), let maximum = reader.uint32(),
      let size = reader.uint64(), let assetDigest = reader.take(32).flatMap(ChunkDigest.init)
    else { throw .malformed("its header is cut short") }
    // Version 2 always had a pack and no flags; versions 3 and 4 say with bit 0 of their flags.
    var hasPack = version == 2
    if version >= 3 {
      guard let flags = reader.take(1)?.first else { throw .malformed("its header is cut short") }
      guard flags & ~1 == 0 else { throw .malformed("it has flags \(flags) this agent does not know") }
      hasPack = flags & 1 == 1
    }
    var pack: Pack?
    if hasPack {
      guard let packSize = reader.uint64(), let packDigest = reader.take(32).flatMap(ChunkDigest.init) else {
        throw .malformed("its header is cut short")
      }
      guard packSize <= UInt64(Int64.max) else { throw .malformed("pack size \(packSize) is out of range") }
      pack = Pack(size: Int64(packSize), digest: packDigest)
    }
    guard let count = reader.uint32() else { throw .malformed("its header is cut short") }
    let parameters = ChunkingParameters(minimum: Int(minimum), average: Int(average), maximum: Int(maximum))
    guard parameters.isValid else { throw .malformed("chunk sizes \(parameters) are not usable") }
    guard size <= UInt64(Int64.max) else { throw .malformed("asset size \(size) is out of range") }
    let keySize = version >= 3 ? ChunkKey.size : 32
    let varints = version == 4
    // Each chunk's bytes: fixed before version 4; at least that many with varints (one byte a length).
    let entry = (varints ? 1 : 4) * (pack == nil ? 1 : 2) + keySize
    let remaining = bytes.count - reader.position
    guard varints ? Int(count) * entry <= remaining : Int(count) * entry == remaining else {
      throw .malformed(
        "\(count) chunks need \(varints ? "at least " : "")\(reader.position + Int(count) * entry) bytes, it has \(bytes.count)"
      )
    }
    let readLength = { (reader: inout ByteReader) in varints ? reader.varint() : reader.uint32() }
    var chunks: [Chunk] = []
    chunks.reserveCapacity(Int(count))
    var offset: Int64 = 0
    var packedOffset: Int64 = 0
    for number in 0..<Int(count) {
      guard let length = readLength(&reader), let packedLength = pack == nil ? 0 : readLength(&reader),
        let key = reader.take(keySize).flatMap(ChunkKey.init)
      else {
        throw .malformed("chunk \(number + 1) is cut short or has a length that is not a 32-bit varint")
      }
      let last = number == Int(count) - 1
      guard length >= 1, Int(length) <= parameters.maximum, last || Int(length) >= parameters.minimum else {
        throw .malformed("chunk \(number + 1) has \(length) bytes, outside \(parameters)")
      }
      guard pack == nil || (1...Self.packedBound(Int(length))).contains(Int(packedLength)) else {
        throw .malformed("chunk \(number + 1)'s frame has \(packedLength) bytes for \(length)")
      }
      chunks.append(
        Chunk(
          offset: offset, length: Int(length), digest: key, packedOffset: packedOffset,
          packedLength: Int(packedLength)))
      offset += Int64(length)
      packedOffset += Int64(packedLength)
    }
    guard reader.position == bytes.count else {
      throw .malformed("it has \(bytes.count - reader.position) bytes after its last chunk")
    }
    guard offset == Int64(size) else {
      throw .malformed("its chunks add up to \(offset) bytes, the asset has \(size)")
    }
    if let pack, packedOffset != pack.size {
      throw .malformed("its frames add up to \(packedOffset) bytes, the pack has \(pack.size)")
    }
    self.init(parameters: parameters, assetSize: Int64(size), assetDigest: assetDigest, chunks: chunks, pack: pack)
  }
}

/// What a device on one version fetches to build another: the chunks it
/// lacks, as byte ranges of the new asset merged where they touch, grouped
/// into multi-range requests.
public struct DeltaPlan: Sendable, Equatable {
  /// A run of the new asset's bytes to fetch: `chunks` are the positions in the index it covers.
  public struct Range: Sendable, Equatable {
    public var offset: Int64
    public var length: Int64
    public var chunks: Swift.Range<Int>

    public init(offset: Int64, length: Int64, chunks: Swift.Range<Int>) {
      self.offset = offset
      self.length = length
      self.chunks = chunks
    }

    public var end: Int64 { offset + length }
    /// `bytes=a-b` form (inclusive end).
    public var header: String { "\(offset)-\(end - 1)" }
  }

  /// Ranges in asset order, split into requests of at most `rangesPerRequest`: byte ranges of the asset, or of
  /// its chunk pack when `packed`.
  public var requests: [[Range]]
  /// Bytes taken from what the device has.
  public var reused: Int64
  /// Bytes to fetch (compressed ones when `packed`).
  public var fetched: Int64
  public var assetSize: Int64
  public var packed: Bool

  /// Ranges per request: an nginx origin takes a Range header of up to 8 KiB by default; 100 ranges of large
  /// offsets stay well under it.
  public static let rangesPerRequest = 100

  /// Plans the delta for `index` when the device has the chunks in `available`: ranges of the chunk pack when
  /// `packed` and the index has one, else of the asset.
  public init(
    _ index: ChunkIndex, available: Set<ChunkKey>, packed: Bool = false,
    rangesPerRequest: Int = DeltaPlan.rangesPerRequest
  ) {
    let packed = packed && index.pack != nil
    var ranges: [Range] = []
    var reused: Int64 = 0
    var fetched: Int64 = 0
    for (position, chunk) in index.chunks.enumerated() {
      let (offset, length) = Self.placement(chunk, packed: packed)
      if available.contains(chunk.digest) {
        reused += Int64(chunk.length)
        continue
      }
      fetched += length
      if let last = ranges.last, last.end == offset {
        ranges[ranges.count - 1].length += length
        ranges[ranges.count - 1].chunks = last.chunks.lowerBound..<(position + 1)
      } else {
        ranges.append(Range(offset: offset, length: length, chunks: position..<(position + 1)))
      }
    }
    let perRequest = max(rangesPerRequest, 1)
    requests = stride(from: 0, to: ranges.count, by: perRequest).map {
      Array(ranges[$0..<min($0 + perRequest, ranges.count)])
    }
    self.reused = reused
    self.fetched = fetched
    self.packed = packed
    assetSize = index.assetSize
  }

  /// Where a chunk's bytes are fetched from: its frame in the pack, or its bytes in the asset.
  public static func placement(_ chunk: ChunkIndex.Chunk, packed: Bool) -> (offset: Int64, length: Int64) {
    packed ? (chunk.packedOffset, Int64(chunk.packedLength)) : (chunk.offset, Int64(chunk.length))
  }

  /// A delta pays only when at most this share of the asset travels; past it the whole asset is fetched (one
  /// plain request, nothing to assemble).
  public static let worthwhileShare = 0.9

  /// Whether fetching these ranges beats fetching the whole asset.
  public var isWorthwhile: Bool { Double(fetched) <= Self.worthwhileShare * Double(max(assetSize, 1)) }

  /// Percent of the asset that is fetched (100 when it is empty).
  public var fetchedPercent: Double {
    assetSize == 0 ? 100 : Double(fetched) / Double(assetSize) * 100
  }
}

extension [UInt8] {
  fileprivate mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
  }

  /// Unsigned LEB128: seven bits a byte, low first, the top bit set on all but the last.
  fileprivate mutating func appendVarint(_ value: UInt32) {
    var rest = value
    while rest >= 0x80 {
      append(UInt8(rest & 0x7f) | 0x80)
      rest >>= 7
    }
    append(UInt8(rest))
  }
}

/// Reads big-endian fields off a byte array; nil when it runs out.
private struct ByteReader {
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
}
