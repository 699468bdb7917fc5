import AirliftCore
import Foundation
import HTTPTypes
import NIOCore

/// A client certificate passed on by a TLS-terminating proxy in front of
/// the controller (nginx with `ssl_verify_client on`): the PEM, URL-escaped,
/// in `X-Client-Cert` (nginx's `$ssl_client_escaped_cert`) and the proxy's
/// verdict in `X-Client-Verify` (`$ssl_client_verify`). Believed only from
/// the addresses in the controller's `trustedProxies`.
enum TrustedProxy {
  /// The DER bytes of the forwarded certificate, or nil when the request carries none.
  static func forwardedCertificate(
    _ headers: HTTPFields, from address: SocketAddress?, trusted: Set<String>
  ) throws -> [UInt8]? {
    guard let escaped = headers[.clientCertificate], !escaped.isEmpty else { return nil }
    let peer = address?.ipAddress ?? "an unknown address"
    guard trusted.contains(peer) else {
      throw APIError(
        status: .forbidden, code: "untrusted_proxy",
        message:
          "X-Client-Cert is accepted only from the controller's trustedProxies; this connection comes from \(peer)")
    }
    guard headers[.clientVerify] == "SUCCESS" else {
      throw APIError(
        status: .forbidden, code: "forbidden",
        message:
          "the proxy did not verify the client certificate (X-Client-Verify: \(headers[.clientVerify] ?? "none"))")
    }
    guard let der = der(fromEscapedPEM: escaped) else {
      throw APIError(
        status: .badRequest, code: "invalid_request", message: "X-Client-Cert is not a URL-escaped PEM certificate")
    }
    return der
  }

  /// `-----BEGIN CERTIFICATE-----…` (URL-escaped) → DER.
  static func der(fromEscapedPEM escaped: String) -> [UInt8]? {
    guard let pem = escaped.removingPercentEncoding else { return nil }
    let lines = pem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    guard let begin = lines.firstIndex(of: "-----BEGIN CERTIFICATE-----"),
      let end = lines.firstIndex(of: "-----END CERTIFICATE-----"), begin < end
    else { return nil }
    return Data(base64Encoded: lines[(begin + 1)..<end].joined()).map(Array.init)
  }
}

extension HTTPField.Name {
  static let clientCertificate = Self("X-Client-Cert")!
  static let clientVerify = Self("X-Client-Verify")!
}
