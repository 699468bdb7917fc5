import COpenSSL

/// Errors from reading certificates.
public enum CertificateError: Error, Equatable, Sendable, CustomStringConvertible {
  case unparsable
  case noCommonName

  public var description: String {
    switch self {
    case .unparsable: return "the peer certificate could not be parsed (not DER X.509)"
    case .noCommonName: return "the peer certificate has no subject common name (CN)"
    }
  }
}

/// Reads who a certificate names, so the HTTPS server can map a TLS client
/// certificate to a device id or an operator.
public enum CertificateIdentity {
  /// The subject's common name of a DER-encoded X.509 certificate.
  public static func commonName(der: [UInt8]) throws(CertificateError) -> String {
    let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
      var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509(nil, &pointer, buffer.count)
    }
    guard let cert = parsed else { throw .unparsable }
    defer { X509_free(cert) }
    guard let name = X509_get_subject_name(cert) else { throw .noCommonName }
    let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
    guard index >= 0, let entry = X509_NAME_get_entry(name, index),
      let data = X509_NAME_ENTRY_get_data(entry)
    else { throw .noCommonName }
    var utf8: UnsafeMutablePointer<UInt8>?
    let length = ASN1_STRING_to_UTF8(&utf8, data)
    guard length >= 0, let bytes = utf8 else { throw .noCommonName }
    defer { CRYPTO_free(bytes, #fileID, #line) }
    return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self)
  }
}
