import COpenSSL
import Foundation

/// Short-lived download links for one asset, in the token format nginx's
/// `secure_link` module checks, so the controller, an nginx origin or a
/// CDN rule can each verify them: `md5 = base64url(MD5("<expires><path>
/// <secret>"))` without padding, `expires` in Unix seconds (docs/security.md).
/// A link only lets its holder download bytes that the signed manifest
/// already pins by SHA-256; it grants no other access.
public struct AssetLinkSigner: Sendable {
  private let secret: String

  public init(secret: String) { self.secret = secret }

  /// What a link check found.
  public enum Verdict: Sendable, Equatable {
    case valid
    /// Well signed, but past its time.
    case expired(at: Int64)
    /// Missing, malformed or not signed with this secret.
    case invalid
  }

  /// The token for `path` (the URL path, without the query) valid until `expires`.
  public func token(path: String, expires: Int64) -> String {
    let digest = Self.md5(Array("\(expires)\(path) \(secret)".utf8))
    return Data(digest).base64EncodedString().replacingOccurrences(of: "+", with: "-")
      .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
  }

  /// Checks a link's `md5` and `expires` query values for `path` at `now` (Unix seconds).
  public func check(path: String, token: String?, expires: String?, now: Int64) -> Verdict {
    guard let token, let expires, let until = Int64(expires), until > 0 else { return .invalid }
    let expected = Array(self.token(path: path, expires: until).utf8)
    let given = Array(token.utf8)
    // Constant time over the expected length.
    var difference = UInt8(expected.count == given.count ? 0 : 1)
    for index in expected.indices { difference |= expected[index] ^ (index < given.count ? given[index] : 0) }
    guard difference == 0 else { return .invalid }
    return until < now ? .expired(at: until) : .valid
  }

  private static func md5(_ bytes: [UInt8]) -> [UInt8] {
    guard let context = EVP_MD_CTX_new() else { fatalError("libcrypto: out of memory") }
    defer { EVP_MD_CTX_free(context) }
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    EVP_DigestInit_ex(context, EVP_md5(), nil)
    bytes.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
    EVP_DigestFinal_ex(context, &digest, &length)
    return Array(digest.prefix(Int(length)))
  }

  /// A new random secret (32 bytes, hex).
  public static func makeSecret() -> String {
    var generator = SystemRandomNumberGenerator()
    return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
  }
}
