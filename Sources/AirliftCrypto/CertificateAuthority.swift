import COpenSSL
import Foundation

/// Errors from reading certificates and keys, or making CRLs.
public enum CertificateAuthorityError: Error, Equatable, Sendable, CustomStringConvertible {
  case unreadable(path: String, reason: String)
  case notPEM(source: String, expected: String)
  case keyDoesNotMatch(certificate: String, key: String)
  case libcrypto(String)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
    case .notPEM(let source, let expected): return "\(source) does not hold a PEM \(expected)"
    case .keyDoesNotMatch(let certificate, let key): return "the key \(key) does not belong to \(certificate)"
    case .libcrypto(let what): return "libcrypto failed to \(what)"
    }
  }
}

/// A revoked certificate: its serial number (hex) and when it was revoked.
public struct RevokedSerial: Sendable, Equatable {
  public var serial: String
  public var revokedAt: Date

  public init(serial: String, revokedAt: Date) {
    self.serial = serial
    self.revokedAt = revokedAt
  }
}

/// The fleet CA: it signs certificate revocation lists the broker checks.
public struct CertificateAuthority: Sendable {
  let certificatePEM: String
  let keyPEM: String
  let certificatePath: String

  /// Reads the CA certificate and its private key (PEM), and checks that they belong together.
  public init(certificateFile: String, keyFile: String) throws(CertificateAuthorityError) {
    certificatePEM = try PEMFile.read(certificateFile)
    keyPEM = try PEMFile.read(keyFile)
    certificatePath = certificateFile
    let certificate = try PEMFile.certificate(certificatePEM, source: certificateFile)
    defer { X509_free(certificate) }
    let key = try PEMFile.privateKey(keyPEM, source: keyFile)
    defer { EVP_PKEY_free(key) }
    guard X509_check_private_key(certificate, key) == 1 else {
      ERR_clear_error()
      throw .keyDoesNotMatch(certificate: certificateFile, key: keyFile)
    }
  }

  /// A CRL (PEM) listing `revoked`, signed by the CA, valid from `now` for `validity` seconds.
  public func revocationList(_ revoked: [RevokedSerial], now: Date = Date(), validity: TimeInterval = 365 * 86400)
    throws(CertificateAuthorityError) -> String
  {
    let certificate = try PEMFile.certificate(certificatePEM, source: certificatePath)
    defer { X509_free(certificate) }
    let key = try PEMFile.privateKey(keyPEM, source: "the CA key")
    defer { EVP_PKEY_free(key) }
    guard let crl = X509_CRL_new() else { throw .libcrypto("allocate a CRL") }
    defer { X509_CRL_free(crl) }
    guard X509_CRL_set_version(crl, 1) == 1,  // v2
      X509_CRL_set_issuer_name(crl, X509_get_subject_name(certificate)) == 1
    else { throw .libcrypto("set the CRL issuer") }
    try Self.setTime(now) { X509_CRL_set1_lastUpdate(crl, $0) }
    try Self.setTime(now + validity) { X509_CRL_set1_nextUpdate(crl, $0) }
    for entry in revoked {
      guard let revokedEntry = X509_REVOKED_new() else { throw .libcrypto("allocate a CRL entry") }
      var number: OpaquePointer? = nil
      guard BN_hex2bn(&number, entry.serial) > 0, let number else {
        X509_REVOKED_free(revokedEntry)
        throw .libcrypto("read serial \(entry.serial)")
      }
      defer { BN_free(number) }
      guard let integer = BN_to_ASN1_INTEGER(number, nil) else {
        X509_REVOKED_free(revokedEntry)
        throw .libcrypto("encode serial \(entry.serial)")
      }
      defer { ASN1_INTEGER_free(integer) }
      guard X509_REVOKED_set_serialNumber(revokedEntry, integer) == 1 else {
        X509_REVOKED_free(revokedEntry)
        throw .libcrypto("set serial \(entry.serial)")
      }
      do throws(CertificateAuthorityError) {
        try Self.setTime(entry.revokedAt) { X509_REVOKED_set_revocationDate(revokedEntry, $0) }
      } catch {
        X509_REVOKED_free(revokedEntry)
        throw error
      }
      guard X509_CRL_add0_revoked(crl, revokedEntry) == 1 else {
        X509_REVOKED_free(revokedEntry)
        throw .libcrypto("add a CRL entry")
      }
    }
    _ = X509_CRL_sort(crl)
    guard X509_CRL_sign(crl, key, EVP_sha256()) > 0 else { throw .libcrypto("sign the CRL") }
    return try PEMFile.write { PEM_write_bio_X509_CRL($0, crl) }
  }

  private static func setTime(_ date: Date, _ set: (UnsafeMutablePointer<ASN1_TIME>) -> Int32)
    throws(CertificateAuthorityError)
  {
    guard let time = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970)) else {
      throw .libcrypto("encode a time")
    }
    defer { ASN1_TIME_free(time) }
    guard set(time) == 1 else { throw .libcrypto("set a time") }
  }
}

extension CertificateIdentity {
  /// The serial number of a DER certificate, as lower-case hex without leading zeros.
  public static func serialNumber(der: [UInt8]) throws(CertificateError) -> String {
    let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
      var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509(nil, &pointer, buffer.count)
    }
    guard let certificate = parsed else { throw .unparsable }
    defer { X509_free(certificate) }
    return try serial(of: certificate)
  }

  /// The serial number of the first certificate in a PEM file.
  public static func serialNumber(pemFile path: String) throws -> String {
    let certificate = try PEMFile.certificate(try PEMFile.read(path), source: path)
    defer { X509_free(certificate) }
    return try serial(of: certificate)
  }

  private static func serial(of certificate: OpaquePointer) throws(CertificateError) -> String {
    guard let integer = X509_get0_serialNumber(certificate), let number = ASN1_INTEGER_to_BN(integer, nil) else {
      throw .unparsable
    }
    defer { BN_free(number) }
    guard let hex = BN_bn2hex(number) else { throw .unparsable }
    defer { CRYPTO_free(hex, #fileID, #line) }
    return String(cString: hex).lowercased()
  }
}

/// PEM reading and writing through memory BIOs; pointers stay in this file.
enum PEMFile {
  static func read(_ path: String) throws(CertificateAuthorityError) -> String {
    do {
      return try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
    }
  }

  static func parse(_ pem: String, _ reader: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
    let bytes = Array(pem.utf8)
    let parsed: OpaquePointer? = bytes.withUnsafeBytes { buffer in
      guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
      defer { BIO_free(bio) }
      return reader(bio)
    }
    ERR_clear_error()
    return parsed
  }

  static func certificate(_ pem: String, source: String) throws(CertificateAuthorityError) -> OpaquePointer {
    guard let certificate = parse(pem, { PEM_read_bio_X509($0, nil, nil, nil) }) else {
      throw .notPEM(source: source, expected: "certificate")
    }
    return certificate
  }

  static func privateKey(_ pem: String, source: String) throws(CertificateAuthorityError) -> OpaquePointer {
    guard let key = parse(pem, { PEM_read_bio_PrivateKey($0, nil, nil, nil) }) else {
      throw .notPEM(source: source, expected: "private key")
    }
    return key
  }

  static func write(_ writer: (OpaquePointer) -> Int32) throws(CertificateAuthorityError) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw .libcrypto("allocate a buffer") }
    defer { BIO_free(bio) }
    guard writer(bio) == 1 else { throw .libcrypto("write PEM") }
    var out = [UInt8](repeating: 0, count: Int(BIO_ctrl_pending(bio)))
    let read = BIO_read(bio, &out, Int32(out.count))
    return String(decoding: out.prefix(Int(max(read, 0))), as: UTF8.self)
  }
}
