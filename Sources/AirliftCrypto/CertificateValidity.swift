import COpenSSL
import Foundation

/// When a certificate is valid: the agent renews its own before `notAfter`, the controller shows each device's.
public struct CertificateValidity: Sendable, Equatable {
  public var notBefore: Date
  public var notAfter: Date

  public init(notBefore: Date, notAfter: Date) {
    self.notBefore = notBefore
    self.notAfter = notAfter
  }

  /// Reads a PEM certificate (`source` names it in errors).
  public init(pem: String, source: String) throws(CertificateAuthorityError) {
    let certificate = try PEMFile.certificate(pem, source: source)
    defer { X509_free(certificate) }
    guard let validity = Self.read(certificate) else { throw .libcrypto("read the validity of \(source)") }
    self = validity
  }

  /// Reads a DER certificate, as a TLS peer presents it.
  public init(der: [UInt8]) throws(CertificateError) {
    let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
      var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509(nil, &pointer, buffer.count)
    }
    guard let certificate = parsed else { throw .unparsable }
    defer { X509_free(certificate) }
    guard let validity = Self.read(certificate) else { throw .unparsable }
    self = validity
  }

  /// The moment `fraction` (0...1) of its lifetime has passed: when a renewal is due.
  public func point(_ fraction: Double) -> Date {
    notBefore.addingTimeInterval(notAfter.timeIntervalSince(notBefore) * fraction)
  }

  private static func read(_ certificate: OpaquePointer) -> CertificateValidity? {
    guard let from = date(X509_get0_notBefore(certificate)), let to = date(X509_get0_notAfter(certificate)) else {
      return nil
    }
    return CertificateValidity(notBefore: from, notAfter: to)
  }

  private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
    guard let time else { return nil }
    var parts = tm()
    guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
    return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
  }
}

extension DeviceKey {
  /// Whether `keyPEM` is the private key of `certificatePEM` (a half-finished swap of the two files is not).
  public static func matches(certificatePEM: String, keyPEM: String) -> Bool {
    guard let certificate = try? PEMFile.certificate(certificatePEM, source: "certificate") else { return false }
    defer { X509_free(certificate) }
    guard let key = try? PEMFile.privateKey(keyPEM, source: "key") else { return false }
    defer { EVP_PKEY_free(key) }
    let matched = X509_check_private_key(certificate, key) == 1
    ERR_clear_error()
    return matched
  }
}
