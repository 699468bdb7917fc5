import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Downloads artifacts over HTTPS with the device certificate, checking size
/// and SHA-256 while the bytes stream to disk. A cut download keeps its
/// `.part` file and continues from there (HTTP Range), also after a
/// restart; only a verified file ever gets its final name.
struct ArtifactDownloader: Sendable {
  let client: HTTPClient
  let directory: String
  /// Optional bandwidth limit, so an update does not starve the device's traffic.
  var maxBytesPerSecond: Int?
  /// Bytes a download must leave free, so an update never fills the disk the device needs.
  var reservedSpace: Int64 = 0
  /// Told how many bytes each transfer moved (whole or cut), for `airlift-agent status`.
  var transferred: @Sendable (Int64) -> Void = { _ in }

  func finalPath(_ artifact: ArtifactRef) -> String { "\(directory)/\(artifact.sha256)" }
  func partialPath(_ artifact: ArtifactRef) -> String { finalPath(artifact) + ".part" }
  /// The asset's chunk index as fetched and checked, kept beside the asset after the install (`keepAssets`):
  /// the next delta reads the kept asset's chunks from it instead of cutting the whole file again.
  func indexPath(_ artifact: ArtifactRef) -> String { finalPath(artifact) + ".index" }
  /// A seed a handler made for this asset's delta (its installed tree as a tar), removed after the download.
  func seedPath(_ artifact: ArtifactRef) -> String { finalPath(artifact) + ".seed" }

  /// Removes what a finished update left behind.
  func cleanUp(_ artifact: ArtifactRef) {
    try? FileManager.default.removeItem(atPath: finalPath(artifact))
    try? FileManager.default.removeItem(atPath: partialPath(artifact))
    try? FileManager.default.removeItem(atPath: indexPath(artifact))
    try? FileManager.default.removeItem(atPath: seedPath(artifact))
    try? FileManager.default.removeItem(atPath: finalPath(artifact) + ".stream")
  }

  /// Returns the path of the verified file. `progress` gets the bytes on
  /// disk so far and, on the first call, the offset a resume started from.
  func download(
    _ artifact: ArtifactRef, timeout: TimeAmount, tally: TransferTally? = nil,
    progress: @Sendable (_ bytes: Int64, _ resumedFrom: Int64?) async -> Void
  ) async throws -> String {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let final = finalPath(artifact)
    if FileManager.default.fileExists(atPath: final) { return final }
    let partial = partialPath(artifact)
    if !FileManager.default.fileExists(atPath: partial) {
      _ = FileManager.default.createFile(atPath: partial, contents: nil)
    }
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: partial))
    defer { try? handle.close() }

    // What is already on disk counts, once re-read through the hash.
    let hasher = SHA256Hasher()
    var offset = try Int64(handle.seekToEnd())
    if offset > artifact.size {
      try handle.truncate(atOffset: 0)
      offset = 0
    }
    offset = try Self.rehash(handle, bytes: offset, into: hasher)
    try checkFreeSpace(needed: artifact.size - offset)

    var received = offset
    if offset < artifact.size {
      let (response, start) = try await openTransfer(artifact, from: offset, timeout: timeout) {
        try handle.truncate(atOffset: 0)
      }
      if start == .append {
        try handle.seek(toOffset: UInt64(offset))
        await progress(offset, offset)
      } else {
        try handle.truncate(atOffset: 0)
        hasher.reset()
        received = 0
        await progress(0, nil)
      }
      let started = ContinuousClock.now
      let startedAt = received
      defer { transferred(received - startedAt) }
      do {
        for try await buffer in response.body {
          received += Int64(buffer.readableBytes)
          tally?.add(fetched: Int64(buffer.readableBytes))
          // Never read past the declared size ("endless data" attack).
          guard received <= artifact.size else {
            throw AgentError.sizeMismatch(artifact: artifact.name, expected: artifact.size, received: received)
          }
          buffer.withUnsafeReadableBytes { hasher.update($0) }
          do {
            try handle.write(contentsOf: Data(buffer.readableBytesView))
          } catch {
            // A full or failing disk: the partial file goes at once, so the
            // agent's state and reports still have room to be written.
            try? handle.close()
            try? FileManager.default.removeItem(atPath: partial)
            throw AgentError.storage(path: partial, reason: Self.describe(error))
          }
          await progress(received, nil)
          try await pace(bytes: received - startedAt, since: started)
        }
      } catch {
        try? handle.synchronize()
        throw Self.transferError(error, url: artifact.url, received: received)
      }
    }
    guard received == artifact.size else {
      try? handle.synchronize()
      throw AgentError.download(
        url: artifact.url, reason: "the transfer ended after \(received) of \(artifact.size) bytes")
    }
    let digest = hasher.finalizeHex()
    guard digest == artifact.sha256 else {
      try? FileManager.default.removeItem(atPath: partial)
      if offset > 0 {
        // Joined from two transfers: the kept part may be what was wrong. Once more from zero.
        throw AgentError.download(
          url: artifact.url,
          reason:
            "the file resumed at \(offset) bytes does not match its SHA-256 (got \(digest)); starting over from zero")
      }
      throw AgentError.digestMismatch(artifact: artifact.name, expected: artifact.sha256, actual: digest)
    }
    try handle.synchronize()
    try FileManager.default.moveItem(atPath: partial, toPath: final)
    return final
  }

  /// Where a transfer's body goes: after the bytes kept (`offset`), or from the start (the server sent it all).
  enum TransferStart { case append, fromZero }

  /// Asks for `artifact` from `offset` and checks the answer before a byte of its body is read: a status that
  /// lines up with the bytes kept, and a declared length within the signed size (dropping the unread answer
  /// closes its connection). `forget` runs when the kept bytes cannot be lined up (the next try starts from 0).
  func openTransfer(_ artifact: ArtifactRef, from offset: Int64, timeout: TimeAmount, forget: () throws -> Void)
    async throws -> (HTTPClientResponse, TransferStart)
  {
    let response = try await get(artifact.url, range: offset > 0 ? "bytes=\(offset)-" : nil, timeout: timeout)
    let start: TransferStart
    switch ResumeAnswer.decide(
      status: Int(response.status.code), contentRange: response.headers.first(name: "Content-Range"), offset: offset)
    {
    case .append: start = .append
    case .replace: start = .fromZero
    case .retryFromZero(let reason):
      try forget()
      throw AgentError.download(url: artifact.url, reason: reason)
    case .refuse(let status, let retryable):
      throw AgentError.download(
        url: artifact.url, reason: "\(status) \(response.status.reasonPhrase)", retryable: retryable)
    }
    let received = start == .append ? offset : 0
    if let length = response.headers.first(name: "Content-Length").flatMap(Int64.init),
      length > artifact.size - received
    {
      throw AgentError.oversizedAnswer(
        artifact: artifact.name, expected: artifact.size,
        announced: length > Int64.max - received ? Int64.max : received + length)
    }
    return (response, start)
  }

  /// A GET of `url` (with a `Range` header when given); a failure to get an answer is a retryable download error.
  func get(_ url: String, range: String?, timeout: TimeAmount) async throws -> HTTPClientResponse {
    var request = HTTPClientRequest(url: url)
    if let range { request.headers.add(name: "Range", value: range) }
    do {
      return try await client.execute(request, timeout: timeout)
    } catch {
      if Task.isCancelled { throw CancellationError() }
      throw AgentError.download(url: url, reason: "\(error)")
    }
  }

  /// What an error while the body streamed becomes: the agent's own errors and refusals as they are, a
  /// cancellation as one, anything else (the connection dropped, the stall timeout) a retryable download error.
  static func transferError(_ error: any Error, url: String, received: Int64) -> any Error {
    if error is AgentError || error is DeltaUnavailable { return error }
    if Task.isCancelled { return CancellationError() }
    return AgentError.download(url: url, reason: "connection lost after \(received) bytes: \(error)")
  }

  static func describe(_ error: any Error) -> String {
    let error = error as NSError
    if let posix = error.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
      return String(cString: strerror(Int32(posix.code)))
    }
    if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
    if error.domain == NSCocoaErrorDomain, error.code == CocoaError.fileWriteOutOfSpace.rawValue {
      return "No space left on device"
    }
    return error.localizedDescription
  }

  /// Feeds the first `bytes` of `handle` to `hasher` (what an earlier run wrote counts once re-read); returns how
  /// many it could read, fewer when the file is shorter.
  static func rehash(_ handle: FileHandle, bytes: Int64, into hasher: SHA256Hasher) throws -> Int64 {
    try handle.seek(toOffset: 0)
    var read: Int64 = 0
    while read < bytes, let data = try handle.read(upToCount: Int(min(1 << 20, bytes - read))), !data.isEmpty {
      hasher.update(data)
      read += Int64(data.count)
    }
    return read
  }

  /// Refuses to start a download the disk cannot hold.
  func checkFreeSpace(needed: Int64) throws {
    // The download folder, or before the first download the nearest folder above it: the same disk.
    var folder = URL(fileURLWithPath: directory)
    while !FileManager.default.fileExists(atPath: folder.path), folder.path != "/" {
      folder = folder.deletingLastPathComponent()
    }
    guard needed > 0,
      let free = (try? FileManager.default.attributesOfFileSystem(forPath: folder.path))?[.systemFreeSize]
        as? NSNumber
    else { return }
    guard free.int64Value - reservedSpace >= needed else {
      throw AgentError.notEnoughSpace(path: directory, needed: needed, free: free.int64Value, reserved: reservedSpace)
    }
  }

  /// Sleeps as long as the bandwidth limit asks (`bytes` moved since `start`).
  func pace(bytes: Int64, since start: ContinuousClock.Instant) async throws {
    guard let limit = maxBytesPerSecond, limit > 0 else { return }
    let due = Duration.seconds(Double(bytes) / Double(limit))
    let elapsed = ContinuousClock.now - start
    if due > elapsed { try await Task.sleep(for: due - elapsed) }
  }
}
