/// How an asset is cut into chunks: FastCDC's sizes. Both sides of a delta
/// must cut with the same ones, so they travel in the chunk index.
public struct ChunkingParameters: Sendable, Equatable, Hashable, CustomStringConvertible {
  /// No chunk is shorter, except an asset's last.
  public var minimum: Int
  /// What chunks come to on average; a power of two.
  public var average: Int
  /// No chunk is longer.
  public var maximum: Int

  public init(minimum: Int, average: Int, maximum: Int) {
    self.minimum = minimum
    self.average = average
    self.maximum = maximum
  }

  /// 8 KiB / 32 KiB / 128 KiB: chosen with bench/delta (docs/decisions.md): against 64 KiB a change to 10 % of an
  /// image's files fetched 14 % less, and the larger index (~32,000 chunks, ~700 KB for 1 GiB) cost a 100-byte
  /// change less than a casync or zchunk delta of it.
  public static let standard = ChunkingParameters(minimum: 8 << 10, average: 32 << 10, maximum: 128 << 10)

  /// Sizes a chunker can work with: 64 B ≤ minimum < average < maximum ≤ 16 MiB, the average a power of two.
  public var isValid: Bool {
    minimum >= 64 && minimum < average && average < maximum && maximum <= 16 << 20 && average & (average - 1) == 0
  }

  public var description: String { "\(minimum)/\(average)/\(maximum)" }
}

/// Content-defined chunking, FastCDC style (Xia et al., USENIX ATC 2016): a
/// rolling "gear" hash over the bytes cuts where its top bits are zero, so
/// the same content is cut the same way wherever it sits in a file. An
/// insertion moves only the boundaries next to it, which is what lets a
/// device reuse most of an old version's chunks. Normalized chunking (a
/// harder condition before the average size, an easier one after it) keeps
/// the sizes close to the average.
///
/// The gear table and masks are part of the chunk index format: changing
/// them changes every boundary, so they are fixed for format version 1.
public struct ContentDefinedChunker: Sendable {
  public let parameters: ChunkingParameters
  private let maskBeforeAverage: UInt64
  private let maskAfterAverage: UInt64

  public init(_ parameters: ChunkingParameters = .standard) {
    self.parameters = parameters
    let bits = parameters.average.trailingZeroBitCount
    // Top bits: bit k of the gear hash depends on the last k + 1 bytes, so the top ones see a 64-byte window.
    maskBeforeAverage = ~UInt64(0) << UInt64(64 - min(bits + 2, 63))
    maskAfterAverage = ~UInt64(0) << UInt64(64 - max(bits - 2, 1))
  }

  /// The length of the chunk at the start of `bytes`, which holds everything
  /// from the chunk's start up to at least `maximum` bytes (fewer only at
  /// the end of the asset).
  public func cut(_ bytes: UnsafeRawBufferPointer) -> Int {
    let count = bytes.count
    guard count > parameters.minimum, let start = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
      return count
    }
    let end = min(count, parameters.maximum)
    let normal = min(end, parameters.average)
    let (small, large) = (maskBeforeAverage, maskAfterAverage)
    // Pointers, not subscripts: this loop sees every byte of every asset, and a debug build checks subscripts.
    return Self.gear.withUnsafeBufferPointer { table in
      let gear = table.baseAddress!
      var hash: UInt64 = 0
      var index = parameters.minimum
      while index < normal {
        hash = (hash << 1) &+ gear[Int(start[index])]
        if hash & small == 0 { return index + 1 }
        index += 1
      }
      while index < end {
        hash = (hash << 1) &+ gear[Int(start[index])]
        if hash & large == 0 { return index + 1 }
        index += 1
      }
      return end
    }
  }

  /// 256 fixed pseudo-random words (SplitMix64 from a fixed seed): the same on every machine, forever.
  static let gear: [UInt64] = {
    var state: UInt64 = 0x4169_726c_6966_7401
    return (0..<256).map { _ in
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }()
}

/// Cuts a stream that arrives in pieces of any size into content-defined
/// chunks, holding at most one maximum-size chunk plus the piece at hand.
public struct ChunkStream: Sendable {
  public let chunker: ContentDefinedChunker
  private var buffer: [UInt8] = []
  private var start = 0

  public init(_ chunker: ContentDefinedChunker = ContentDefinedChunker()) {
    self.chunker = chunker
    buffer.reserveCapacity(chunker.parameters.maximum * 2)
  }

  /// Takes the next piece of the stream; `chunk` gets each chunk completed by it, in order.
  public mutating func append(_ bytes: UnsafeRawBufferPointer, chunk: (UnsafeRawBufferPointer) throws -> Void) rethrows
  {
    buffer.append(contentsOf: bytes)
    try emit(final: false, chunk)
  }

  /// The stream ended: what is left becomes the last chunks.
  public mutating func finish(chunk: (UnsafeRawBufferPointer) throws -> Void) rethrows {
    try emit(final: true, chunk)
    buffer.removeAll(keepingCapacity: false)
    start = 0
  }

  private mutating func emit(final: Bool, _ chunk: (UnsafeRawBufferPointer) throws -> Void) rethrows {
    let maximum = chunker.parameters.maximum
    try buffer.withUnsafeBytes { all in
      while all.count - start >= maximum || (final && all.count > start) {
        let rest = UnsafeRawBufferPointer(rebasing: all[start...])
        let length = chunker.cut(rest)
        try chunk(UnsafeRawBufferPointer(rebasing: rest[..<length]))
        start += length
      }
    }
    // Keep the unfinished tail only; compact once the consumed part is large.
    if start > maximum || start == buffer.count {
      buffer.removeFirst(start)
      start = 0
    }
  }
}
