import AirliftCore
import AirliftCrypto
import Foundation
import NIOCore

/// Streaming an image straight into its target (the inactive A/B slot):
/// no copy on the data disk. The bytes are hashed as they are written;
/// how far the target holds checked-in-order bytes is recorded beside the
/// download (`.stream`), so a cut transfer goes on from there after a
/// restart (the written part is read back through the hash first). Only a
/// target whose whole image matched the signed SHA-256 is marked done.
extension ArtifactDownloader {
  /// The record of a stream: the target and the bytes of it written so far, in order.
  struct StreamRecord: Codable, Equatable {
    var target: String
    var written: Int64
    var done: Bool
  }

  func streamRecordPath(_ artifact: ArtifactRef) -> String { finalPath(artifact) + ".stream" }

  func streamRecord(_ artifact: ArtifactRef) -> StreamRecord? {
    FileManager.default.contents(atPath: streamRecordPath(artifact)).flatMap {
      try? JSONDecoder().decode(StreamRecord.self, from: $0)
    }
  }

  private func saveStreamRecord(_ record: StreamRecord, _ artifact: ArtifactRef) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: streamRecordPath(artifact)), options: .atomic)
  }

  /// Bytes written between two records of the offset (each after the target was synced).
  static let streamCheckpoint: Int64 = 4 << 20

  /// Writes `artifact` into `target` as it arrives; returns `target` once it holds exactly the signed bytes.
  /// `progress` gets the bytes written so far and, on the first call, the offset a resume started from.
  func stream(
    _ artifact: ArtifactRef, into target: String, timeout: TimeAmount, tally: TransferTally? = nil,
    progress: @Sendable (_ bytes: Int64, _ resumedFrom: Int64?) async -> Void
  ) async throws -> String {
    var record = streamRecord(artifact) ?? StreamRecord(target: target, written: 0, done: false)
    if record.target != target { record = StreamRecord(target: target, written: 0, done: false) }
    if record.done { return target }
    guard let handle = FileHandle(forUpdatingAtPath: target) else {
      throw AgentError.slot(reason: "cannot open \(target) to write the image into it")
    }
    defer { try? handle.close() }

    // What the target already holds of this image counts, once re-read through the hash.
    let hasher = SHA256Hasher()
    let offset = try Self.rehash(handle, bytes: min(max(record.written, 0), artifact.size), into: hasher)

    var received = offset
    if offset < artifact.size {
      let (response, start) = try await openTransfer(artifact, from: offset, timeout: timeout) {
        try saveStreamRecord(StreamRecord(target: target, written: 0, done: false), artifact)
      }
      if start == .append {
        try handle.seek(toOffset: UInt64(offset))
        await progress(offset, offset)
      } else {
        try handle.seek(toOffset: 0)
        hasher.reset()
        received = 0
        await progress(0, nil)
      }
      let started = ContinuousClock.now
      let startedAt = received
      var checkpoint = received
      defer { transferred(received - startedAt) }
      do {
        for try await buffer in response.body {
          guard received + Int64(buffer.readableBytes) <= artifact.size else {
            throw AgentError.sizeMismatch(
              artifact: artifact.name, expected: artifact.size, received: received + Int64(buffer.readableBytes))
          }
          tally?.add(fetched: Int64(buffer.readableBytes))
          buffer.withUnsafeReadableBytes { hasher.update($0) }
          do {
            try handle.write(contentsOf: Data(buffer.readableBytesView))
          } catch {
            throw AgentError.slot(reason: "writing \(target) failed at byte \(received): \(Self.describe(error))")
          }
          received += Int64(buffer.readableBytes)
          if received - checkpoint >= Self.streamCheckpoint {
            try handle.synchronize()
            try saveStreamRecord(StreamRecord(target: target, written: received, done: false), artifact)
            checkpoint = received
          }
          await progress(received, nil)
          try await pace(bytes: received - startedAt, since: started)
        }
      } catch {
        try? handle.synchronize()
        try? saveStreamRecord(StreamRecord(target: target, written: received, done: false), artifact)
        throw Self.transferError(error, url: artifact.url, received: received)
      }
    }
    try handle.synchronize()
    guard received == artifact.size else {
      try saveStreamRecord(StreamRecord(target: target, written: received, done: false), artifact)
      throw AgentError.download(
        url: artifact.url, reason: "the transfer ended after \(received) of \(artifact.size) bytes")
    }
    let digest = hasher.finalizeHex()
    guard digest == artifact.sha256 else {
      // Never switched to; the next try writes it again from the start.
      try saveStreamRecord(StreamRecord(target: target, written: 0, done: false), artifact)
      throw AgentError.digestMismatch(artifact: artifact.name, expected: artifact.sha256, actual: digest)
    }
    // An image file as slot ends where the image ends; a block device keeps its size.
    if (try? FileManager.default.attributesOfItem(atPath: target)[.type] as? FileAttributeType) == .typeRegular {
      try handle.truncate(atOffset: UInt64(artifact.size))
    }
    try saveStreamRecord(StreamRecord(target: target, written: received, done: true), artifact)
    return target
  }
}
