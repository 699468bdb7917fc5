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
