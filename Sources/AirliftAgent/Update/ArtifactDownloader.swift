import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Downloads artifacts over HTTPS with the device certificate, checking size
/// and SHA-256 while the bytes stream to disk. Only a verified file ever gets
/// its final name.
struct ArtifactDownloader: Sendable {
  let client: HTTPClient
  let directory: String

  /// Returns the path of the verified file. `progress` gets bytes so far.
  func download(
    _ artifact: ArtifactRef, timeout: TimeAmount, progress: @Sendable (Int64) async -> Void
  ) async throws -> String {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let final = "\(directory)/\(artifact.sha256)"
    if FileManager.default.fileExists(atPath: final) { return final }
    let partial = final + ".part"
    _ = FileManager.default.createFile(atPath: partial, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: partial) }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
    defer { try? handle.close() }

    let response: HTTPClientResponse
    do {
      response = try await client.execute(HTTPClientRequest(url: artifact.url), timeout: timeout)
    } catch {
      throw AgentError.download(url: artifact.url, reason: "\(error)")
    }
    guard response.status == .ok else {
      throw AgentError.download(
        url: artifact.url, reason: "HTTP \(response.status.code) \(response.status.reasonPhrase)")
    }
    let hasher = SHA256Hasher()
    var received: Int64 = 0
    do {
      for try await buffer in response.body {
        received += Int64(buffer.readableBytes)
        // Never read past the declared size ("endless data" attack).
        guard received <= artifact.size else {
          throw AgentError.sizeMismatch(artifact: artifact.name, expected: artifact.size, received: received)
        }
        buffer.withUnsafeReadableBytes { hasher.update($0) }
        try handle.write(contentsOf: Data(buffer.readableBytesView))
        await progress(received)
      }
    } catch let error as AgentError {
      throw error
    } catch {
      throw AgentError.download(url: artifact.url, reason: "\(error)")
    }
    guard received == artifact.size else {
      throw AgentError.sizeMismatch(artifact: artifact.name, expected: artifact.size, received: received)
    }
    let digest = hasher.finalizeHex()
    guard digest == artifact.sha256 else {
      throw AgentError.digestMismatch(artifact: artifact.name, expected: artifact.sha256, actual: digest)
    }
    try handle.synchronize()
    try FileManager.default.moveItem(atPath: partial, toPath: final)
    return final
  }
}
