import AirliftCompression
import AirliftCore
import AirliftCrypto
import Foundation
import Logging
import NIOPosix

/// Content-addressed files: each blob lives once, at `blobs/<sha256>`.
public struct BlobStore: Sendable {
  public let directory: String
  private let incoming: String
  /// How assets are cut and packed for deltas (`ControllerConfig.deltas`).
  let chunking: ChunkingParameters
  let packLevel: Int32

  public init(directory: String, chunking: ChunkingParameters = .standard, packLevel: Int32 = 9) throws {
    self.directory = "\(directory)/blobs"
    incoming = "\(directory)/incoming"
    self.chunking = chunking
    self.packLevel = packLevel
    for path in [self.directory, incoming] {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
  }

  public func path(sha256: String) -> String { "\(directory)/\(sha256)" }

  /// Removes the files of blobs the store no longer lists; one that is already gone is not an error.
  public func remove(_ digests: [String], logger: Logger) {
    for digest in digests where (try? Names.validateDigest(digest)) != nil {
      do {
        try FileManager.default.removeItem(atPath: path(sha256: digest))
      } catch let error as CocoaError where error.code == .fileNoSuchFile {
        continue
      } catch {
        logger.warning("could not remove blob \(digest): \(error)")
      }
    }
  }

  /// Writes a stream of chunks to a temporary file while hashing it, then
  /// moves it to its content address. Returns its digest and size. More than
  /// `limit` bytes stops it with ``BlobTooLarge`` and keeps nothing.
  public func ingest<S: AsyncSequence>(_ chunks: S, limit: Int64 = .max) async throws -> (sha256: String, size: Int64)
  where S.Element: Collection, S.Element.Element == UInt8 {
    let temporary = "\(incoming)/\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
    }
    defer { try? FileManager.default.removeItem(atPath: temporary) }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
    let hasher = SHA256Hasher()
    var size: Int64 = 0
    do {
      for try await chunk in chunks {
        hasher.update(chunk)
        try handle.write(contentsOf: Data(chunk))
        size += Int64(chunk.count)
        if size > limit { throw BlobTooLarge(limit: limit) }
      }
      try handle.synchronize()
      try handle.close()
    } catch {
      try? handle.close()
      throw error
    }
    let digest = hasher.finalizeHex()
    let destination = path(sha256: digest)
    if !FileManager.default.fileExists(atPath: destination) {
      try FileManager.default.moveItem(atPath: temporary, toPath: destination)
    }
    return (digest, size)
  }

  /// Cuts a stored blob into content-defined chunks and stores the chunk index beside it; its reference. The
  /// cutting is CPU work (every byte through the rolling hash and SHA-256): it runs on NIO's blocking thread
  /// pool, not on the threads that serve requests.
  ///
  /// When the asset compresses, its chunk pack is made in the same job: each chunk a zstd frame of its own, in
  /// order, stored as a blob; the index records where each frame is.
  public func index(sha256: String) async throws -> (index: API.ChunkIndexRef, pack: API.PackRef?) {
    let path = path(sha256: sha256)
    let index = try await NIOThreadPool.singleton.runIfActive {
      try self.pack(ChunkIndexBuilder.index(ofFile: path, parameters: self.chunking), of: path)
    }
    guard index.assetDigest.description == sha256 else {
      throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path])
    }
    return (try store(index), index.pack.map { API.PackRef(sha256: $0.digest.description, size: $0.size) })
  }

  /// A pack is kept only when it is at most this share of the asset: for data that does not compress (media,
  /// compressed archives) the asset's own bytes serve as well.
  public static let packWorthwhile = 0.9

  /// Writes the chunk pack of the asset at `path` and returns `index` with it, or `index` as it is when the pack
  /// would not be smaller enough. Blocking: runs on the thread pool.
  func pack(_ index: ChunkIndex, of path: String) throws -> ChunkIndex {
    guard !index.chunks.isEmpty else { return index }
    let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? input.close() }
    let temporary = "\(incoming)/\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
    }
    var kept = false
    defer { if !kept { try? FileManager.default.removeItem(atPath: temporary) } }
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
    defer { try? output.close() }
    let compressor = ZstdCompressor(level: packLevel)
    let hasher = SHA256Hasher()
    var lengths: [Int] = []
    lengths.reserveCapacity(index.chunks.count)
    var total: Int64 = 0
    let limit = Int64(Self.packWorthwhile * Double(index.assetSize))
    for chunk in index.chunks {
      guard let data = try input.read(upToCount: chunk.length), data.count == chunk.length else {
        throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path])
      }
      let frame = data.withUnsafeBytes { compressor.compress($0) }
      guard !frame.isEmpty else { return index }
      hasher.update(frame)
      try output.write(contentsOf: frame)
      lengths.append(frame.count)
      total += Int64(frame.count)
      // Past the limit the pack cannot pay any more: stop compressing.
      if total > limit { return index }
    }
    try output.synchronize()
    guard let digest = ChunkDigest(hasher.finalize()) else { return index }
    let destination = self.path(sha256: digest.description)
    if FileManager.default.fileExists(atPath: destination) {
      try? FileManager.default.removeItem(atPath: temporary)
    } else {
      try FileManager.default.moveItem(atPath: temporary, toPath: destination)
    }
    kept = true
    return index.packed(ChunkIndex.Pack(size: total, digest: digest), frameLengths: lengths)
  }

  /// Assets smaller than this get no chunk index: a delta would save less than its requests cost.
  public static let indexedMinimum: Int64 = 1 << 20

  /// A stored chunk index, read back (nil when it is missing or its head does not match its digest). Blocking:
  /// call it off the event loops.
  public func chunkIndex(_ ref: API.ChunkIndexRef) -> ChunkIndex? {
    guard let data = FileManager.default.contents(atPath: path(sha256: ref.sha256)),
      Int64(data.count) >= ref.size, SHA256Hasher.hex(of: data.prefix(Int(ref.size))) == ref.sha256
    else { return nil }
    return try? ChunkIndex(decoding: Array(data))
  }

  /// Stores `index` as a blob of its own (atomically); its reference for the release listing and the manifest.
  /// The reference (the blob's name, and what the manifest signs) is the digest and size of the index's head:
  /// a device checks the head it fetched against it, and each segment's body against its key in the head.
  public func store(_ index: ChunkIndex) throws -> API.ChunkIndexRef {
    let (head, bodies) = index.encoded(sha256: ChunkIndex.sha256)
    let digest = SHA256Hasher.hex(of: head)
    let destination = path(sha256: digest)
    if !FileManager.default.fileExists(atPath: destination) {
      let temporary = "\(incoming)/\(UUID().uuidString)"
      try Data(head + bodies.joined()).write(to: URL(fileURLWithPath: temporary))
      try FileManager.default.moveItem(atPath: temporary, toPath: destination)
    }
    return API.ChunkIndexRef(sha256: digest, size: Int64(head.count), chunks: index.chunks.count)
  }
}

/// An upload larger than the controller's `maxArtifactSize`.
public struct BlobTooLarge: Error, CustomStringConvertible {
  public let limit: Int64
  public var description: String {
    "the asset is larger than the controller's limit of \(limit) bytes (maxArtifactSize in its config)"
  }
}
