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
/// Format version 5, big-endian (what the controller writes):
///
/// ```
/// "ACIX" 0x05                        magic and version (5 bytes)
/// minimum average maximum            chunking parameters (3 × UInt32)
/// size                               the asset's bytes (UInt64)
/// sha256                             the asset's SHA-256 (32 bytes)
/// flags                              bit 0: the asset has a chunk pack; bit 1: the entries are in segments
/// [pack size, pack sha256]           the pack's bytes (UInt64) and SHA-256 (32 bytes), with bit 0
/// count                              chunks (UInt32)
/// without bit 1: count × entry       each chunk's entry, in order
/// with bit 1:    segments (UInt32), segments × (body length, key)
///                                    each segment's body: its length (varint) and the first 16 bytes of its
///                                    SHA-256; the head ends here
///                bodies              each segment's entries, in order
/// entry: length, [frame length], key each chunk: its length and its zstd frame's length in the pack (with
///                                    bit 0), each an unsigned LEB128 varint (3 bytes for 16 KiB to 2 MiB),
///                                    then the first 16 bytes of its SHA-256 (19 to 22 bytes a chunk)
/// ```
///
/// The *head* is what the signed manifest's digest and size cover: the
/// whole index without segments, the header and the segment table with
/// them. A large index (`segmentedMinimum` chunks and more) is cut into
/// segments of consecutive entries, with boundaries chosen by the chunks'
/// keys (so an edit moves few of them), and a device fetches the head and
/// only the bodies of segments none of its kept indexes has: a small
/// change to a large image costs a few KiB of index, not all of it. Each
/// body is checked against its key in the signed head.
///
/// The chunk pack is every chunk as a zstd frame of its own, in order, a
/// blob beside the asset: a device fetches missing chunks as byte ranges of
/// the pack, compressed, and checks each once inflated. Versions 1 to 4 are
/// read, no longer written: 4 was 5 without segments; 3 had its lengths as
/// UInt32s; 1 and 2 had no flags and whole 32-byte SHA-256s a chunk, 1 no
/// pack, 2 always one. 16 bytes are plenty for a key: the index that lists
/// them is signed, and the rebuilt asset is checked against its whole
/// SHA-256 before anything installs it.
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

}
