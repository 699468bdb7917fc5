import COpenSSL
import Foundation

/// A device's own key pair and certificate signing request: the private key
/// is made on the device and never leaves it.
public enum DeviceKey {
  /// A new EC P-256 private key as a PKCS#8 PEM.
  public static func generate() throws(CertificateAuthorityError) -> String {
    guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { throw .libcrypto("allocate a key context") }
    defer { EVP_PKEY_CTX_free(context) }
    var key: OpaquePointer?
    guard EVP_PKEY_keygen_init(context) == 1,
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1) == 1,
      EVP_PKEY_keygen(context, &key) == 1, let key
    else { throw .libcrypto("generate an EC P-256 key") }
    defer { EVP_PKEY_free(key) }
    return try PEMFile.write { PEM_write_bio_PKCS8PrivateKey($0, key, nil, nil, 0, nil, nil) }
  }

  /// A PEM certificate signing request for `commonName`, signed with `keyPEM`.
  public static func signingRequest(commonName: String, keyPEM: String) throws(CertificateAuthorityError) -> String {
    let key = try PEMFile.privateKey(keyPEM, source: "the device key")
    defer { EVP_PKEY_free(key) }
    guard let request = X509_REQ_new(), let name = X509_NAME_new() else { throw .libcrypto("allocate a CSR") }
    defer {
      X509_REQ_free(request)
      X509_NAME_free(name)
    }
    let added = Array(commonName.utf8).withUnsafeBufferPointer {
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, $0.baseAddress, Int32($0.count), -1, 0)
    }
    guard added == 1, X509_REQ_set_version(request, 0) == 1, X509_REQ_set_subject_name(request, name) == 1,
      X509_REQ_set_pubkey(request, key) == 1, X509_REQ_sign(request, key, EVP_sha256()) > 0
    else { throw .libcrypto("make the CSR") }
    return try PEMFile.write { PEM_write_bio_X509_REQ($0, request) }
  }
}

/// Why a certificate signing request is refused.
public enum SigningRequestError: Error, Equatable, Sendable, CustomStringConvertible {
  case notACSR
  case badSignature
  case wrongName(expected: String, found: String)
  case weakKey(String)

  public var description: String {
    switch self {
    case .notACSR: return "the body does not hold a PEM certificate signing request"
    case .badSignature: return "the CSR is not signed by the key it carries"
    case .wrongName(let expected, let found): return "the CSR names CN '\(found)', not the device id '\(expected)'"
    case .weakKey(let what): return "the CSR's key is not accepted: \(what) (use EC P-256, or RSA of 2048 bits or more)"
    }
  }
}

extension CertificateAuthority {
  /// Issues a client certificate (CN = `commonName`, clientAuth) for the key in `csrPEM`, after checking the
  /// request's signature, name and key. Returns the certificate PEM and its serial (hex).
  public func issue(csrPEM: String, commonName: String, validityDays: Int = 825, now: Date = Date()) throws
    -> (certificate: String, serial: String)
  {
    try issue(csrPEM: csrPEM, commonName: commonName, validitySeconds: validityDays * 86_400)
  }

  /// A short-lived client certificate and its new key for `commonName`: the
  /// controller uses one for a moment to end a revoked device's broker
  /// session (the broker binds a session to its certificate's CN).
  public func issueShortLived(commonName: String, seconds: Int) throws -> (certificate: String, key: String) {
    let key = try DeviceKey.generate()
    let request = try DeviceKey.signingRequest(commonName: commonName, keyPEM: key)
    return (try issue(csrPEM: request, commonName: commonName, validitySeconds: seconds).certificate, key)
  }

  /// Issues a client certificate valid for `validitySeconds` from now (renewals, and tests with short lives).
  public func issue(csrPEM: String, commonName: String, validitySeconds: Int) throws
    -> (certificate: String, serial: String)
  {
    try Self.withCheckedRequest(csrPEM, commonName: commonName) { publicKey in
      try issue(publicKey: publicKey, commonName: commonName, validitySeconds: validitySeconds)
    }
  }

  /// Runs `body` with the public key of a CSR signed by that key whose CN is `commonName`.
  private static func withCheckedRequest<T>(
    _ csrPEM: String, commonName: String, _ body: (OpaquePointer) throws -> T
  ) throws -> T {
    guard let request = PEMFile.parse(csrPEM, { PEM_read_bio_X509_REQ($0, nil, nil, nil) }) else {
      throw SigningRequestError.notACSR
    }
    defer { X509_REQ_free(request) }
    guard let publicKey = X509_REQ_get_pubkey(request) else { throw SigningRequestError.notACSR }
    defer { EVP_PKEY_free(publicKey) }
    guard X509_REQ_verify(request, publicKey) == 1 else {
      ERR_clear_error()
      throw SigningRequestError.badSignature
    }
    let found = try Self.commonName(of: X509_REQ_get_subject_name(request))
    guard found == commonName else { throw SigningRequestError.wrongName(expected: commonName, found: found) }
    return try body(publicKey)
  }

  /// Signs a certificate for `publicKey` (from a checked request) with the CA.
  private func issue(publicKey: OpaquePointer, commonName: String, validitySeconds: Int) throws
    -> (certificate: String, serial: String)
  {
    let type = EVP_PKEY_get_base_id(publicKey)
    let bits = EVP_PKEY_get_bits(publicKey)
    guard (type == EVP_PKEY_EC && bits >= 256) || (type == EVP_PKEY_RSA && bits >= 2048) else {
      throw SigningRequestError.weakKey("type \(type), \(bits) bits")
    }

    let caCertificate = try PEMFile.certificate(certificatePEM, source: certificatePath)
    defer { X509_free(caCertificate) }
    let caKey = try PEMFile.privateKey(keyPEM, source: "the CA key")
    defer { EVP_PKEY_free(caKey) }
    guard let certificate = X509_new(), let subject = X509_NAME_new() else {
      throw CertificateAuthorityError.libcrypto("allocate a certificate")
    }
    defer {
      X509_free(certificate)
      X509_NAME_free(subject)
    }
    // A random positive 128-bit serial.
    var random = [UInt8](repeating: 0, count: 16)
    guard RAND_bytes(&random, 16) == 1 else { throw CertificateAuthorityError.libcrypto("produce random bytes") }
    random[0] &= 0x7F
    guard let number = BN_bin2bn(random, 16, nil) else { throw CertificateAuthorityError.libcrypto("make a serial") }
    defer { BN_free(number) }
    guard let serial = BN_to_ASN1_INTEGER(number, nil) else {
      throw CertificateAuthorityError.libcrypto("make a serial")
    }
    defer { ASN1_INTEGER_free(serial) }
    let named = Array(commonName.utf8).withUnsafeBufferPointer {
      X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, $0.baseAddress, Int32($0.count), -1, 0)
    }
    guard named == 1, X509_set_version(certificate, 2) == 1, X509_set_serialNumber(certificate, serial) == 1,
      X509_set_issuer_name(certificate, X509_get_subject_name(caCertificate)) == 1,
      X509_set_subject_name(certificate, subject) == 1, X509_set_pubkey(certificate, publicKey) == 1,
      X509_time_adj_ex(X509_getm_notBefore(certificate), 0, -300, nil) != nil,
      X509_time_adj_ex(X509_getm_notAfter(certificate), 0, validitySeconds, nil) != nil
    else { throw CertificateAuthorityError.libcrypto("fill in the certificate") }
    var context = X509V3_CTX()
    X509V3_set_ctx(&context, caCertificate, certificate, nil, nil, 0)
    for (nid, value) in [
      (NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature,keyAgreement"),
      (NID_ext_key_usage, "clientAuth"), (NID_subject_key_identifier, "hash"),
      (NID_authority_key_identifier, "keyid:always"),
    ] {
      guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
        throw CertificateAuthorityError.libcrypto("make extension \(value)")
      }
      defer { X509_EXTENSION_free(extensionValue) }
      guard X509_add_ext(certificate, extensionValue, -1) == 1 else {
        throw CertificateAuthorityError.libcrypto("add extension \(value)")
      }
    }
    guard X509_sign(certificate, caKey, EVP_sha256()) > 0 else {
      throw CertificateAuthorityError.libcrypto("sign the certificate")
    }
    let pem = try PEMFile.write { PEM_write_bio_X509($0, certificate) }
    guard let hex = BN_bn2hex(number) else { throw CertificateAuthorityError.libcrypto("print the serial") }
    defer { CRYPTO_free(hex, #fileID, #line) }
    return (pem, String(cString: hex).lowercased())
  }

  /// Checks a CSR as it arrives: a request signed by its own key, whose CN is `commonName` (a mismatch is
  /// refused at once, not at approval).
  public static func checkRequest(_ csrPEM: String, commonName: String) throws {
    try withCheckedRequest(csrPEM, commonName: commonName) { _ in }
  }

  private static func commonName(of name: OpaquePointer?) throws -> String {
    guard let name else { throw SigningRequestError.notACSR }
    let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
    guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else {
      throw SigningRequestError.wrongName(expected: "a device id", found: "")
    }
    var utf8: UnsafeMutablePointer<UInt8>?
    let length = ASN1_STRING_to_UTF8(&utf8, data)
    guard length >= 0, let bytes = utf8 else { throw SigningRequestError.notACSR }
    defer { CRYPTO_free(bytes, #fileID, #line) }
    return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self)
  }
}
