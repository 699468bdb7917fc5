import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore

/// The chunk index of an asset, as a delta needs it: its signed head
/// first, then only the bodies of the segments that no index the device
/// keeps already has, in one multi-range request (or a few) of the same
/// file. Anything that does not add up makes a `DeltaUnavailable`: the
/// asset is then downloaded whole.
extension ArtifactDownloader {
  /// The whole index, checked against the digest and size the signed manifest gives its head and against the
  /// asset; `known` are indexes the device has (their segments are not fetched again). Returns the bytes and
  /// requests it took.
  func fetchIndex(
    _ url: String, signed: API.ChunkIndexRef, for artifact: ArtifactRef, known: [ChunkIndex], timeout: TimeAmount
  ) async throws -> (index: ChunkIndex, fetched: Int64, requests: Int) {
    var request = HTTPClientRequest(url: url)
    request.headers.add(name: "Range", value: "bytes=0-\(signed.size - 1)")
    let response: HTTPClientResponse
    do {
      response = try await client.execute(request, timeout: timeout)
    } catch {
      if Task.isCancelled { throw CancellationError() }
      throw DeltaUnavailable(reason: "its chunk index could not be fetched: \(error)")
    }
    // An origin that ignores Range sends the whole stored index: the head is its start, the segments follow.
    guard response.status == .partialContent || response.status == .ok else {
      throw DeltaUnavailable(
        reason: "its chunk index could not be fetched: \(response.status.code) \(response.status.reasonPhrase)")
    }
    let limit = response.status == .ok ? ReleaseManifest.maxIndexSize : signed.size
    let body: ByteBuffer
    do {
      body = try await response.body.collect(upTo: Int(limit))
    } catch {
      throw DeltaUnavailable(reason: "its chunk index is larger than the \(limit) bytes it may have")
    }
    let bytes = Array(body.readableBytesView)
    guard Int64(bytes.count) >= signed.size, SHA256Hasher.hex(of: bytes.prefix(Int(signed.size))) == signed.sha256
    else {
      throw DeltaUnavailable(reason: "its chunk index does not match the SHA-256 in the signed manifest")
    }
    let head: ChunkIndexHead
    let index: ChunkIndex
    var fetched = Int64(bytes.count)
    var requests = 1
    do {
      head = try ChunkIndexHead(decoding: Array(bytes.prefix(Int(signed.size))))
      guard head.size == Int(signed.size) else {
        throw ChunkIndexError.malformed("its head has \(head.size) bytes, the signed manifest says \(signed.size)")
      }
      if head.whole == nil, Int64(bytes.count) > signed.size {
        index = try ChunkIndex(decoding: bytes)
      } else {
        let (bodies, moved, made) = try await segmentBodies(of: head, from: url, known: known, timeout: timeout)
        fetched += moved
        requests += made
        index = try ChunkIndex(head: head, bodies: bodies)
      }
    } catch let error as ChunkIndexError {
      throw DeltaUnavailable(reason: "\(error)")
    }
    guard index.assetSize == artifact.size, index.assetDigest.description == artifact.sha256 else {
      throw DeltaUnavailable(reason: "its chunk index describes another file")
    }
    return (index, fetched, requests)
  }

  /// Every segment's body in order: from `known` indexes where one has it, the rest fetched as byte ranges of
  /// the index (adjacent ones merged, each distinct body once). Bodies are checked when the index is put
  /// together.
  private func segmentBodies(of head: ChunkIndexHead, from url: String, known: [ChunkIndex], timeout: TimeAmount)
    async throws -> (bodies: [[UInt8]], fetched: Int64, requests: Int)
  {
    guard head.whole == nil else { return ([], 0, 0) }
    var have: [ChunkKey: [UInt8]] = [:]
    for index in known where index.parameters == head.parameters && (index.pack == nil) == (head.pack == nil) {
      for body in index.segmentBodies() { have[ChunkKey(ChunkIndex.sha256(body))!] = body }
    }
    // One range per distinct missing body, merged where they touch.
    var asked = Set<ChunkKey>()
    var ranges: [DeltaPlan.Range] = []
    for (position, segment) in head.segments.enumerated()
    where have[segment.key] == nil && asked.insert(segment.key).inserted {
      if let last = ranges.last, last.end == segment.offset {
        ranges[ranges.count - 1].length += Int64(segment.length)
        ranges[ranges.count - 1].chunks = last.chunks.lowerBound..<(position + 1)
      } else {
        ranges.append(
          DeltaPlan.Range(offset: segment.offset, length: Int64(segment.length), chunks: position..<(position + 1)))
      }
    }
    var fetchedBytes: [Int64: [UInt8]] = [:]
    var moved: Int64 = 0
    var requests = 0
    for start in stride(from: 0, to: ranges.count, by: DeltaPlan.rangesPerRequest) {
      let batch = Array(ranges[start..<min(start + DeltaPlan.rangesPerRequest, ranges.count)])
      let response = try await get(url, range: "bytes=" + batch.map(\.header).joined(separator: ","), timeout: timeout)
      requests += 1
      var parser = try Self.parser(for: response, batch: batch, url: url)
      var expected = batch.makeIterator()
      var current: DeltaPlan.Range?
      var part: [UInt8] = []
      func close() {
        guard let range = current else { return }
        fetchedBytes[range.offset] = part
        part = []
      }
      do {
        for try await buffer in response.body {
          moved += Int64(buffer.readableBytes)
          for event in try parser.feed(buffer.readableBytesView) {
            switch event {
            case .part(let range):
              guard let next = expected.next(), range == next.offset...(next.end - 1) else {
                throw DeltaUnavailable(reason: "the server answered other byte ranges of the index than were asked for")
              }
              close()
              current = next
            case .body(let bytes):
              guard let range = current, part.count + bytes.count <= Int(range.length) else {
                throw DeltaUnavailable(reason: "the server sent more of the index than was asked for")
              }
              part += bytes
            case .end:
              break
            }
          }
        }
      } catch let error as DeltaUnavailable {
        throw error
      } catch {
        if Task.isCancelled { throw CancellationError() }
        throw DeltaUnavailable(reason: "the segments of its chunk index could not be fetched: \(error)")
      }
      close()
    }
    // Cut the merged ranges back into bodies.
    for range in ranges {
      guard let bytes = fetchedBytes[range.offset], bytes.count == Int(range.length) else {
        throw DeltaUnavailable(reason: "the answer for the index's segments ended early")
      }
      var at = 0
      for position in range.chunks {
        let segment = head.segments[position]
        have[segment.key] = have[segment.key] ?? Array(bytes[at..<(at + segment.length)])
        at += segment.length
      }
    }
    let bodies = try head.segments.enumerated().map { position, segment in
      guard let body = have[segment.key] else {
        throw DeltaUnavailable(reason: "segment \(position + 1) of the index was neither known nor fetched")
      }
      return body
    }
    return (bodies, moved, requests)
  }

  /// The indexes kept in `directory` (those that read), for the segments they share with a new one.
  static func knownIndexes(in directory: String) -> [ChunkIndex] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.sorted().compactMap { name in
      FileManager.default.contents(atPath: "\(directory)/\(name)").flatMap { try? ChunkIndex(decoding: Array($0)) }
    }
  }
}
