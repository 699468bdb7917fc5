import COpenSSL

/// Incremental SHA-256 over libcrypto's EVP interface, for checking
/// artifacts while they stream (nothing is held whole in memory).
///
/// Not thread-safe: one hasher belongs to one download or upload.
public final class SHA256Hasher {
  private let context: OpaquePointer

  public init() {
    // EVP_MD_CTX_new only fails when memory is exhausted.
    guard let ctx = EVP_MD_CTX_new() else { fatalError("libcrypto: out of memory") }
    context = ctx
    EVP_DigestInit_ex(context, EVP_sha256(), nil)
  }

  deinit { EVP_MD_CTX_free(context) }

  /// Starts over, forgetting everything hashed so far.
  public func reset() {
    EVP_DigestInit_ex(context, EVP_sha256(), nil)
  }

  public func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    EVP_DigestUpdate(context, base, bytes.count)
  }

  public func update(_ bytes: some Collection<UInt8>) {
    let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
    if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
  }

  /// Ends the computation and returns the digest as 64 lower-case hex characters.
  public func finalizeHex() -> String { Hex.encode(finalize()) }

  /// Ends the computation and returns the 32 bytes of the digest.
  public func finalize() -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    EVP_DigestFinal_ex(context, &digest, &length)
    return Array(digest.prefix(Int(length)))
  }

  /// The SHA-256 of `bytes`, 32 bytes.
  public static func digest(of bytes: some Collection<UInt8>) -> [UInt8] {
    let hasher = SHA256Hasher()
    hasher.update(bytes)
    return hasher.finalize()
  }

  /// The SHA-256 of `bytes` as hex.
  public static func hex(of bytes: some Collection<UInt8>) -> String {
    let hasher = SHA256Hasher()
    hasher.update(bytes)
    return hasher.finalizeHex()
  }
}

/// Lower-case hexadecimal encoding.
public enum Hex {
  public static func encode(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for b in bytes {
      out.append(digits[Int(b >> 4)])
      out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
  }
}
