import AirliftCore

/// The chunk index's format with OpenSSL's SHA-256 for its segments' keys: what the controller and the agent
/// read and write.
extension ChunkIndex {
  public static let sha256: SHA256Function = { SHA256Hasher.digest(of: $0) }

  /// The whole stored index: the head, then the segments' bodies.
  public func encoded() -> [UInt8] {
    let (head, bodies) = encoded(sha256: Self.sha256)
    return head + bodies.joined()
  }

  /// Reads a whole stored index (versions 1 to 5).
  public init(decoding bytes: [UInt8]) throws(ChunkIndexError) {
    try self.init(decoding: bytes, sha256: Self.sha256)
  }

  /// Puts an index together from its head and each segment's body, in order.
  public init(head: ChunkIndexHead, bodies: [[UInt8]]) throws(ChunkIndexError) {
    try self.init(head: head, bodies: bodies, sha256: Self.sha256)
  }
}
