import AirliftCore
import Foundation

/// Builds the chunk index of an asset while it streams past (an upload, a
/// file read in pieces): cuts it with FastCDC, hashes every chunk and the
/// whole. It holds at most one maximum-size chunk, never the asset.
///
/// Not thread-safe: one builder belongs to one stream.
public final class ChunkIndexBuilder {
  private var stream: ChunkStream
  private let whole = SHA256Hasher()
  private let piece = SHA256Hasher()
  private var chunks: [ChunkIndex.Chunk] = []
  private var offset: Int64 = 0

  public init(parameters: ChunkingParameters = .standard) {
    stream = ChunkStream(ContentDefinedChunker(parameters))
  }

  public func update(_ bytes: UnsafeRawBufferPointer) {
    whole.update(bytes)
    stream.append(bytes) { add($0) }
  }

  public func update(_ bytes: some Collection<UInt8>) {
    let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
    if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
  }

  /// The index of everything given so far; the builder is used up.
  public func finalize() -> ChunkIndex {
    stream.finish { add($0) }
    // A SHA-256 is always 32 bytes.
    let digest = ChunkDigest(whole.finalize())!
    return ChunkIndex(
      parameters: stream.chunker.parameters, assetSize: offset, assetDigest: digest, chunks: chunks)
  }

  private func add(_ chunk: UnsafeRawBufferPointer) {
    piece.reset()
    piece.update(chunk)
    chunks.append(ChunkIndex.Chunk(offset: offset, length: chunk.count, digest: ChunkKey(piece.finalize())!))
    offset += Int64(chunk.count)
  }

  /// The index of the file at `path`, read 1 MiB at a time.
  public static func index(ofFile path: String, parameters: ChunkingParameters = .standard) throws -> ChunkIndex {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    let builder = ChunkIndexBuilder(parameters: parameters)
    while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
      data.withUnsafeBytes { builder.update($0) }
    }
    return builder.finalize()
  }
}
