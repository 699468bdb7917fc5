import AirliftCompression
import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// Why a delta is not used for an asset: the whole asset is downloaded
/// instead, and the status event says why.
struct DeltaUnavailable: Error, CustomStringConvertible {
  let reason: String
  var description: String { reason }
}

/// How far a delta is: bytes of the new asset written so far, of which
/// `reused` came from the device and `fetched` over the network, in
/// `requests` HTTP requests.
struct DeltaProgress: Sendable, Equatable {
  var done: Int64 = 0
  var reused: Int64 = 0
  var fetched: Int64 = 0
  var requests = 0
}

/// Delta updates: the new asset is built in order from the chunks the
/// device already has (its kept copy of the installed version's assets)
/// and the missing ones, fetched as byte ranges of the asset itself with
/// multi-range requests, so any HTTPS origin that serves the asset (the
/// controller, nginx, a CDN) serves deltas too. Every chunk is checked
/// against its SHA-256 in the signed index as it is written, the whole
/// asset against its own at the end; the `.part` file only ever holds
/// checked chunks, so a cut delta resumes where it stopped, and a full
/// download can continue from it.
extension ArtifactDownloader {
  /// Builds `artifact` from `seeds` and what it fetches; throws `DeltaUnavailable` when a delta cannot or
  /// should not be made (nothing is lost: the caller downloads the whole asset), or a download error.
  func downloadDelta(
    _ artifact: ArtifactRef, index signed: API.ChunkIndexRef, seeds: [String], known: [ChunkIndex] = [],
    timeout: TimeAmount, tally: TransferTally? = nil, progress: @Sendable (DeltaProgress) async -> Void
  ) async throws -> (path: String, progress: DeltaProgress) {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let final = finalPath(artifact)
    if FileManager.default.fileExists(atPath: final) { return (final, DeltaProgress()) }
    guard let indexURL = artifact.indexURL else { throw DeltaUnavailable(reason: "the asset has no chunk index") }
    // An index fetched before this try (a cut delta) shares every segment with the new one.
    let earlier = FileManager.default.contents(atPath: indexPath(artifact)).flatMap {
      try? ChunkIndex(decoding: Array($0))
    }
    let (index, indexBytes, indexRequests) = try await fetchIndex(
      indexURL, signed: signed, for: artifact, known: (earlier.map { [$0] } ?? []) + known, timeout: timeout)
    tally?.add(fetched: indexBytes)
    // Kept with the asset after the install, so the next delta need not cut it again (not needed to install).
    _ = FileManager.default.createFile(atPath: indexPath(artifact), contents: Data(index.encoded()))
    // CPU work (every byte of a seed without its index through the rolling hash and SHA-256): off the
    // cooperative threads.
    let wanted = Set(index.chunks.map(\.digest))
    let local = try await NIOThreadPool.singleton.runIfActive {
      Self.localChunks(seeds, parameters: index.parameters, wanted: wanted)
    }
    // With a chunk pack the missing chunks travel compressed, as ranges of the pack.
    let packURL = index.pack == nil ? nil : artifact.packURL
    let source = packURL ?? artifact.url
    let plan = DeltaPlan(index, available: Set(local.keys), packed: packURL != nil)
    guard plan.isWorthwhile else {
      throw DeltaUnavailable(
        reason: local.isEmpty
          ? "no earlier version of it is on the device"
          : "only \(Int(100 - plan.fetchedPercent)) % of it is on the device already")
    }

    let partial = partialPath(artifact)
    if !FileManager.default.fileExists(atPath: partial) {
      _ = FileManager.default.createFile(atPath: partial, contents: nil)
    }
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: partial))
    defer { try? handle.close() }
    var writer = ChunkWriter(index: index, handle: handle, url: artifact.url, partial: partial)
    try writer.resume()
    try checkFreeSpace(needed: index.assetSize - writer.written)
    var state = DeltaProgress(done: writer.written, fetched: indexBytes, requests: indexRequests)

    var seedFiles: [String: FileHandle] = [:]
    defer { for file in seedFiles.values { try? file.close() } }
    func copyLocal(until end: Int) async throws {
      while writer.next < end {
        let chunk = index.chunks[writer.next]
        guard let source = local[chunk.digest] else {
          throw AgentError.download(
            url: artifact.url, reason: "chunk \(writer.next + 1) is neither on the device nor asked for")
        }
        if seedFiles[source.path] == nil {
          seedFiles[source.path] = try FileHandle(forReadingFrom: URL(fileURLWithPath: source.path))
        }
        let file = seedFiles[source.path]!
        try file.seek(toOffset: UInt64(source.offset))
        let bytes = try file.read(upToCount: chunk.length) ?? Data()
        do {
          try writer.write(local: bytes)
        } catch is SeedChanged {
          // The kept file no longer says what its index says: the next try cuts it afresh.
          try? FileManager.default.removeItem(atPath: Self.seedIndexPath(source.path))
          throw AgentError.download(
            url: artifact.url,
            reason: "the device's copy of chunk \(writer.next + 1) changed while it was read; trying again")
        }
        state.reused += Int64(chunk.length)
        tally?.add(reused: Int64(chunk.length))
        state.done = writer.written
        await progress(state)
      }
    }

    let remaining = plan.requests.flatMap { $0 }.compactMap {
      Self.clip($0, from: writer.next, index: index, packed: plan.packed)
    }
    let decompressor = ZstdDecompressor()
    var frame: [UInt8] = []
    let batches = stride(from: 0, to: remaining.count, by: DeltaPlan.rangesPerRequest).map {
      Array(remaining[$0..<min($0 + DeltaPlan.rangesPerRequest, remaining.count)])
    }
    for batch in batches {
      try await copyLocal(until: batch[0].chunks.lowerBound)
      let response = try await get(
        source, range: "bytes=" + batch.map(\.header).joined(separator: ","), timeout: timeout)
      state.requests += 1
      let fetchedBefore = state.fetched
      defer { transferred(state.fetched - fetchedBefore) }
      var parser = try Self.parser(for: response, batch: batch, url: source)
      var expected = batch.makeIterator()
      var received = 0
      let started = ContinuousClock.now
      var moved: Int64 = 0
      do {
        for try await buffer in response.body {
          tally?.add(fetched: Int64(buffer.readableBytes))
          moved += Int64(buffer.readableBytes)
          let events: [MultipartByteRanges.Event]
          do {
            events = try parser.feed(buffer.readableBytesView)
          } catch {
            throw AgentError.download(url: artifact.url, reason: "\(error)")
          }
          for event in events {
            switch event {
            case .part(let range):
              guard let next = expected.next(), range == next.offset...(next.end - 1) else {
                throw DeltaUnavailable(reason: "the server answered other byte ranges than were asked for")
              }
              guard frame.isEmpty else {
                throw AgentError.download(url: source, reason: "a byte range ended inside a compressed chunk")
              }
              try await copyLocal(until: next.chunks.lowerBound)
              received += 1
            case .body(let bytes):
              if plan.packed {
                try Self.inflate(bytes, into: &writer, frame: &frame, with: decompressor, url: source)
              } else {
                try writer.write(fetched: bytes)
              }
              state.fetched += Int64(bytes.count)
              state.done = writer.written
              await progress(state)
            case .end:
              break
            }
          }
          // The bandwidth limit holds for deltas too: a device on a thin link is not flooded by the ranges.
          try await pace(bytes: moved, since: started)
        }
      } catch {
        try? handle.synchronize()
        throw Self.transferError(error, url: artifact.url, received: state.fetched)
      }
      guard received == batch.count, writer.next >= batch[batch.count - 1].chunks.upperBound else {
        try? handle.synchronize()
        throw AgentError.download(
          url: artifact.url, reason: "the answer ended after \(received) of the \(batch.count) byte ranges asked for")
      }
    }
    try await copyLocal(until: index.chunks.count)
    guard writer.finish() == artifact.sha256 else {
      try? FileManager.default.removeItem(atPath: partial)
      throw AgentError.download(
        url: artifact.url, reason: "the asset built from chunks does not match its SHA-256; starting over")
    }
    try handle.synchronize()
    try FileManager.default.moveItem(atPath: partial, toPath: final)
    return (final, state)
  }

  /// Where each wanted chunk is on the device: the seeds cut with the index's parameters, a pass over each.
  static func localChunks(_ seeds: [String], parameters: ChunkingParameters, wanted: Set<ChunkKey>)
    -> [ChunkKey: (path: String, offset: Int64)]
  {
    var found: [ChunkKey: (path: String, offset: Int64)] = [:]
    for seed in seeds {
      guard
        let index = keptIndex(of: seed, parameters: parameters)
          ?? (try? ChunkIndexBuilder.index(ofFile: seed, parameters: parameters))
      else { continue }
      for chunk in index.chunks where wanted.contains(chunk.digest) && found[chunk.digest] == nil {
        found[chunk.digest] = (seed, chunk.offset)
      }
    }
    return found
  }

  /// Where the index of a kept asset is kept: `<kept>/.index/<name>`.
  static func seedIndexPath(_ seed: String) -> String {
    let url = URL(fileURLWithPath: seed)
    return url.deletingLastPathComponent().appendingPathComponent(".index").appendingPathComponent(
      url.lastPathComponent
    ).path
  }

  /// The kept asset's chunks from its kept index, when that was cut with `parameters` and still fits the file
  /// (its size); each chunk read from it is checked against its key before it is used, as any seed chunk is.
  static func keptIndex(of seed: String, parameters: ChunkingParameters) -> ChunkIndex? {
    guard let data = FileManager.default.contents(atPath: seedIndexPath(seed)),
      let index = try? ChunkIndex(decoding: Array(data)), index.parameters == parameters,
      let size = (try? FileManager.default.attributesOfItem(atPath: seed)[.size] as? NSNumber)?.int64Value,
      size == index.assetSize
    else { return nil }
    return index
  }

  /// The part of `range` from chunk `first` on (nil when it ends before it), in the asset's or the pack's bytes.
  static func clip(_ range: DeltaPlan.Range, from first: Int, index: ChunkIndex, packed: Bool) -> DeltaPlan.Range? {
    guard range.chunks.upperBound > first else { return nil }
    guard range.chunks.lowerBound < first else { return range }
    let start = DeltaPlan.placement(index.chunks[first], packed: packed).offset
    return DeltaPlan.Range(offset: start, length: range.end - start, chunks: first..<range.chunks.upperBound)
  }

  /// Pack bytes, continuing the frame of the writer's next chunk: each frame, once whole, is inflated to exactly
  /// its chunk's length and written (and checked) as that chunk.
  private static func inflate(
    _ bytes: [UInt8], into writer: inout ChunkWriter, frame: inout [UInt8], with decompressor: ZstdDecompressor,
    url: String
  ) throws {
    var rest = bytes[...]
    while !rest.isEmpty {
      guard writer.next < writer.index.chunks.count else {
        throw AgentError.download(url: url, reason: "the server sent more bytes than the pack has")
      }
      let chunk = writer.index.chunks[writer.next]
      let take = min(chunk.packedLength - frame.count, rest.count)
      frame += rest.prefix(take)
      rest = rest.dropFirst(take)
      guard frame.count == chunk.packedLength else { continue }
      let inflated: [UInt8]
      do {
        inflated = try frame.withUnsafeBytes { try decompressor.decompress($0, size: chunk.length) }
      } catch {
        frame.removeAll()
        throw AgentError.download(url: url, reason: "chunk \(writer.next + 1) of the pack: \(error)")
      }
      frame.removeAll(keepingCapacity: true)
      try writer.write(fetched: inflated)
    }
  }

  /// A reader for the answer to a multi-range request: multipart, or one range when one was asked for.
  static func parser(for response: HTTPClientResponse, batch: [DeltaPlan.Range], url: String) throws
    -> MultipartByteRanges
  {
    switch response.status.code {
    case 206:
      let type = response.headers.first(name: "Content-Type") ?? ""
      if type.lowercased().hasPrefix("multipart/byteranges") {
        do {
          return try MultipartByteRanges(contentType: type)
        } catch {
          throw DeltaUnavailable(reason: "\(error)")
        }
      }
      guard batch.count == 1,
        let range = response.headers.first(name: "Content-Range").flatMap(MultipartByteRanges.parse(contentRange:)),
        range == batch[0].offset...(batch[0].end - 1)
      else { throw DeltaUnavailable(reason: "the server answered other byte ranges than were asked for") }
      return MultipartByteRanges(singleRange: range)
    case 200:
      throw DeltaUnavailable(reason: "the server does not serve byte ranges (it sent the whole file)")
    default:
      throw AgentError.download(
        url: url, reason: "\(response.status.code) \(response.status.reasonPhrase)",
        retryable: response.status.code >= 500 || response.status.code == 429)
    }
  }
}

/// A chunk read from the device is not what its index says (the file changed since it was cut).
private struct SeedChanged: Error {}

/// Writes the new asset chunk by chunk, in order, checking each chunk's
/// SHA-256 before the next begins and hashing the whole as it goes.
private struct ChunkWriter {
  let index: ChunkIndex
  let handle: FileHandle
  let url: String
  let partial: String
  /// The next chunk to write.
  private(set) var next = 0
  /// Bytes of the current fetched chunk so far.
  private var filled = 0
  private let whole = SHA256Hasher()
  private let piece = SHA256Hasher()

  init(index: ChunkIndex, handle: FileHandle, url: String, partial: String) {
    self.index = index
    self.handle = handle
    self.url = url
    self.partial = partial
  }

  /// Bytes of the asset on disk, all checked.
  var written: Int64 { next < index.chunks.count ? index.chunks[next].offset : index.assetSize }

  /// Keeps the checked chunks a cut run left in the `.part` file, drops the rest.
  mutating func resume() throws {
    let size = Int64(try handle.seekToEnd())
    try handle.seek(toOffset: 0)
    while next < index.chunks.count, index.chunks[next].end <= size {
      let chunk = index.chunks[next]
      guard let bytes = try handle.read(upToCount: chunk.length), bytes.count == chunk.length,
        ChunkKey(SHA256Hasher.digest(of: bytes)) == chunk.digest
      else { break }
      whole.update(bytes)
      next += 1
    }
    try handle.truncate(atOffset: UInt64(written))
    try handle.seek(toOffset: UInt64(written))
  }

  /// A whole chunk from the device, checked: `SeedChanged` when it is not the chunk the index names.
  mutating func write(local bytes: Data) throws {
    let chunk = index.chunks[next]
    guard bytes.count == chunk.length, ChunkKey(SHA256Hasher.digest(of: bytes)) == chunk.digest else {
      throw SeedChanged()
    }
    try append(bytes)
    whole.update(bytes)
    next += 1
  }

  /// Fetched bytes, continuing the current chunk; each chunk is checked when complete. A chunk that does not
  /// match is cut off the file again (the next try fetches it anew).
  mutating func write(fetched bytes: [UInt8]) throws {
    var rest = bytes[...]
    while !rest.isEmpty {
      guard next < index.chunks.count else {
        throw AgentError.download(url: url, reason: "the server sent more bytes than the asset has")
      }
      let chunk = index.chunks[next]
      let take = min(chunk.length - filled, rest.count)
      let part = rest.prefix(take)
      try append(Data(part))
      piece.update(part)
      whole.update(part)
      filled += take
      rest = rest.dropFirst(take)
      if filled == chunk.length {
        guard ChunkKey(piece.finalize()) == chunk.digest else {
          try handle.truncate(atOffset: UInt64(chunk.offset))
          try handle.synchronize()
          throw AgentError.download(
            url: url,
            reason:
              "chunk \(next + 1) (bytes \(chunk.offset)-\(chunk.end - 1)) does not match its SHA-256 in the signed index"
          )
        }
        piece.reset()
        filled = 0
        next += 1
      }
    }
  }

  private func append(_ data: Data) throws {
    do {
      try handle.write(contentsOf: data)
    } catch {
      // A full or failing disk: the partial file goes at once, so the agent's state and reports have room.
      try? FileManager.default.removeItem(atPath: partial)
      throw AgentError.storage(path: partial, reason: ArtifactDownloader.describe(error))
    }
  }

  /// The SHA-256 of everything written, once the last chunk is in.
  func finish() -> String? {
    guard next == index.chunks.count else { return nil }
    return whole.finalizeHex()
  }
}
