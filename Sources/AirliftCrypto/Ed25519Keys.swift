import COpenSSL
import Foundation

/// Errors from reading, writing or using release-signing keys.
public enum SigningKeyError: Error, Equatable, Sendable, CustomStringConvertible {
  case unreadable(path: String, reason: String)
  case notAKey(source: String, expected: String)
  case notEd25519(source: String)
  case unwritable(path: String, reason: String)
  case libcrypto(String)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): return "cannot read key file \(path): \(reason)"
    case .notAKey(let source, let expected): return "\(source) does not hold a PEM \(expected)"
    case .notEd25519(let source): return "\(source) is not an Ed25519 key (make one with `airlift keys generate`)"
    case .unwritable(let path, let reason): return "cannot write key file \(path): \(reason)"
    case .libcrypto(let what): return "libcrypto failed to \(what)"
    }
  }
}

/// A public key that release signatures are checked against (Ed25519).
public struct ReleaseVerifyingKey: Sendable, Equatable {
  /// The 32-byte raw public key.
  public let raw: [UInt8]

  public init(raw: [UInt8]) throws(SigningKeyError) {
    guard raw.count == 32 else { throw .notEd25519(source: "a \(raw.count)-byte key") }
    self.raw = raw
  }

  /// Reads a `-----BEGIN PUBLIC KEY-----` PEM (as `openssl pkey -pubout` writes it).
  public init(pem: String, source: String = "the key") throws(SigningKeyError) {
    let key = try EVPKey.read(pem, source: source, expected: "public key") { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
    self.raw = try key.raw(public: true, source: source)
  }

  public init(contentsOf path: String) throws(SigningKeyError) {
    try self.init(pem: try EVPKey.readFile(path), source: path)
  }

  /// First 16 hex characters of the SHA-256 of the raw key: names the key in signatures.
  public var id: String { String(SHA256Hasher.hex(of: raw).prefix(16)) }

  /// The key as a PEM public key.
  public var pem: String {
    get throws(SigningKeyError) {
      let key = try EVPKey(raw: raw, private: false)
      return try key.write { PEM_write_bio_PUBKEY($0, $1) }
    }
  }

  /// Whether `signature` is this key's signature over `message`.
  public func verifies(_ signature: [UInt8], over message: [UInt8]) -> Bool {
    guard signature.count == 64, let key = try? EVPKey(raw: raw, private: false),
      let context = EVP_MD_CTX_new()
    else { return false }
    defer { EVP_MD_CTX_free(context) }
    guard EVP_DigestVerifyInit(context, nil, nil, nil, key.pointer) == 1 else { return false }
    return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
  }
}

/// A private key that signs release manifests (Ed25519). It belongs on the
/// operator's machine; the controller never needs it.
public struct ReleaseSigningKey: Sendable {
  private let seed: [UInt8]

  /// A new random key.
  public static func generate() throws(SigningKeyError) -> ReleaseSigningKey {
    var seed = [UInt8](repeating: 0, count: 32)
    guard RAND_bytes(&seed, 32) == 1 else { throw .libcrypto("produce random bytes") }
    return ReleaseSigningKey(seed: seed)
  }

  private init(seed: [UInt8]) { self.seed = seed }

  /// Reads a `-----BEGIN PRIVATE KEY-----` PEM (as `openssl genpkey -algorithm ed25519` writes it).
  public init(pem: String, source: String = "the key") throws(SigningKeyError) {
    let key = try EVPKey.read(pem, source: source, expected: "private key") {
      PEM_read_bio_PrivateKey($0, nil, nil, nil)
    }
    self.seed = try key.raw(public: false, source: source)
  }

  public init(contentsOf path: String) throws(SigningKeyError) {
    try self.init(pem: try EVPKey.readFile(path), source: path)
  }

  /// The key as an unencrypted PKCS#8 PEM.
  public var pem: String {
    get throws(SigningKeyError) {
      let key = try EVPKey(raw: seed, private: true)
      return try key.write { PEM_write_bio_PKCS8PrivateKey($0, $1, nil, nil, 0, nil, nil) }
    }
  }

  public var publicKey: ReleaseVerifyingKey {
    get throws(SigningKeyError) {
      try ReleaseVerifyingKey(raw: try EVPKey(raw: seed, private: true).raw(public: true, source: "the key"))
    }
  }

  /// The 64-byte Ed25519 signature over `message`.
  public func sign(_ message: [UInt8]) throws(SigningKeyError) -> [UInt8] {
    let key = try EVPKey(raw: seed, private: true)
    guard let context = EVP_MD_CTX_new() else { throw .libcrypto("allocate a signing context") }
    defer { EVP_MD_CTX_free(context) }
    guard EVP_DigestSignInit(context, nil, nil, nil, key.pointer) == 1 else { throw .libcrypto("start signing") }
    var signature = [UInt8](repeating: 0, count: 64)
    var length = 64
    guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else {
      throw .libcrypto("sign")
    }
    return signature
  }
}

/// Owns one `EVP_PKEY` for the length of a call; never escapes this file.
private final class EVPKey {
  let pointer: OpaquePointer

  init(pointer: OpaquePointer) { self.pointer = pointer }

  convenience init(raw: [UInt8], private isPrivate: Bool) throws(SigningKeyError) {
    let made =
      isPrivate
      ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, raw, raw.count)
      : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, raw.count)
    guard let made else { throw .libcrypto("load an Ed25519 key") }
    self.init(pointer: made)
  }

  deinit { EVP_PKEY_free(pointer) }

  static func readFile(_ path: String) throws(SigningKeyError) -> String {
    do {
      return try PEMFile.read(path)
    } catch {
      guard case .unreadable(_, let reason) = error else { throw .unreadable(path: path, reason: error.description) }
      throw .unreadable(path: path, reason: reason)
    }
  }

  static func read(
    _ pem: String, source: String, expected: String, _ reader: (OpaquePointer) -> OpaquePointer?
  ) throws(SigningKeyError) -> EVPKey {
    guard let parsed = PEMFile.parse(pem, reader) else { throw .notAKey(source: source, expected: expected) }
    let key = EVPKey(pointer: parsed)
    guard EVP_PKEY_get_base_id(parsed) == EVP_PKEY_ED25519 else { throw .notEd25519(source: source) }
    return key
  }

  func raw(public isPublic: Bool, source: String) throws(SigningKeyError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 32)
    var length = 32
    let status =
      isPublic
      ? EVP_PKEY_get_raw_public_key(pointer, &bytes, &length)
      : EVP_PKEY_get_raw_private_key(pointer, &bytes, &length)
    guard status == 1, length == 32 else { throw .notEd25519(source: source) }
    return bytes
  }

  func write(_ writer: (OpaquePointer, OpaquePointer) -> Int32) throws(SigningKeyError) -> String {
    do {
      return try PEMFile.write { writer($0, pointer) }
    } catch {
      throw .libcrypto("write a PEM key")
    }
  }
}
