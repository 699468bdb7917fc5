/// What a device on one version of a package would fetch to update to
/// another, worked out from the chunk indexes alone (no device needed):
/// what `airlift release estimate` prints. It assumes the device kept the
/// earlier version's assets, as agents do by default.
public struct DeltaEstimate: Codable, Sendable, Equatable {
  /// One asset of the new version.
  public struct Asset: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int64
    /// Bytes that would travel: the missing chunks (compressed, from the chunk pack, when there is one) and the
    /// chunk index, or the whole asset.
    public var fetched: Int64
    /// Bytes taken from the earlier version's assets on the device.
    public var reused: Int64
    /// HTTP requests: the index and the multi-range requests, or one for the whole asset.
    public var requests: Int
    /// Why the whole asset would travel, when it would.
    public var whole: String?

    public init(name: String, size: Int64, fetched: Int64, reused: Int64, requests: Int, whole: String? = nil) {
      self.name = name
      self.size = size
      self.fetched = fetched
      self.reused = reused
      self.requests = requests
      self.whole = whole
    }
  }

  public var from: ReleaseRef
  public var to: ReleaseRef
  public var assets: [Asset]

  public init(from: ReleaseRef, to: ReleaseRef, assets: [Asset]) {
    self.from = from
    self.to = to
    self.assets = assets
  }

  /// All assets together, as a deployment's `download:` line would show them.
  public var transfer: TransferBytes {
    TransferBytes.sum(assets.map { TransferBytes(total: $0.size, fetched: $0.fetched, reused: $0.reused) })
      ?? TransferBytes(total: 0, fetched: 0, reused: 0)
  }

  public var requests: Int { assets.reduce(0) { $0 + $1.requests } }

  /// A new asset: its size, its chunk index (nil when it has none) and the size of the index's signed head.
  public struct NewAsset: Sendable {
    public var name: String
    public var size: Int64
    public var index: ChunkIndex?
    public var indexSize: Int64

    public init(name: String, size: Int64, index: ChunkIndex?, indexSize: Int64) {
      self.name = name
      self.size = size
      self.index = index
      self.indexSize = indexSize
    }
  }

  /// The estimate for `assets` of `to` on a device that keeps the assets of `from`, whose chunk indexes are
  /// `earlier` (chunks of an index cut with other parameters are not counted: the device cuts its copy with
  /// the new index's).
  public static func make(from: ReleaseRef, to: ReleaseRef, assets: [NewAsset], earlier: [ChunkIndex]) -> DeltaEstimate
  {
    DeltaEstimate(
      from: from, to: to,
      assets: assets.map { asset in
        func whole(_ reason: String) -> Asset {
          Asset(name: asset.name, size: asset.size, fetched: asset.size, reused: 0, requests: 1, whole: reason)
        }
        guard let index = asset.index else { return whole("it has no chunk index (under 1 MiB, or uploaded before)") }
        let available = Set(earlier.filter { $0.parameters == index.parameters }.flatMap { $0.chunks.map(\.digest) })
        guard !available.isEmpty || index.pack != nil else {
          return whole("\(from) has no chunk index to take chunks from")
        }
        let plan = DeltaPlan(index, available: available, packed: true)
        guard plan.isWorthwhile else {
          return whole("only \(Int(100 - plan.fetchedPercent)) % of it is in \(from)")
        }
        // The index's head, and the bodies of its segments that no earlier index has (each once).
        let known = Set(earlier.filter { $0.parameters == index.parameters }.flatMap { $0.segmentBodies() })
        let missing = Set(index.segmentBodies()).subtracting(known)
        let indexBytes = asset.indexSize + Int64(missing.reduce(0) { $0 + $1.count })
        return Asset(
          name: asset.name, size: asset.size, fetched: plan.fetched + indexBytes, reused: plan.reused,
          requests: 1 + (missing.isEmpty ? 0 : 1) + plan.requests.count)
      })
  }
}
