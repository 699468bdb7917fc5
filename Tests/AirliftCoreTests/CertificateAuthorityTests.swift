import AirliftCrypto
import Foundation
import Testing

@Suite("The fleet CA through libcrypto: CSRs, certificates, revocation lists")
struct CertificateAuthorityTests {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

  @Test("a CSR becomes a client certificate the openssl CLI verifies; bad requests are refused; a CRL lists it")
  func issueAndRevoke() throws {
    let folder = NSTemporaryDirectory() + "airlift-ca-" + UUID().uuidString.prefix(8)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    func run(_ arguments: [String]) throws -> (Int32, String) {
      try ReleaseSignatureTests.openssl(arguments, in: NSTemporaryDirectory())
    }
    let (made, log) = try run(["\(Self.repository)/Certs/init", "--out", folder])
    #expect(made == 0, "\(log)")
    let authority = try CertificateAuthority(certificateFile: "\(folder)/ca.crt", keyFile: "\(folder)/ca.key")
    #expect(throws: CertificateAuthorityError.self) {
      try CertificateAuthority(certificateFile: "\(folder)/ca.crt", keyFile: "\(folder)/broker.key")
    }

    let key = try DeviceKey.generate()
    let request = try DeviceKey.signingRequest(commonName: "gw-7", keyPEM: key)
    #expect(throws: SigningRequestError.wrongName(expected: "gw-8", found: "gw-7")) {
      try authority.issue(csrPEM: request, commonName: "gw-8")
    }
    #expect(throws: SigningRequestError.notACSR) { try authority.issue(csrPEM: "garbage", commonName: "gw-7") }
    // A request whose signature does not match its key (the body altered after signing).
    var lines = request.split(separator: "\n").map(String.init)
    var body = Array(Data(base64Encoded: lines[1...].dropLast().joined())!)
    body[body.count - 10] ^= 0xFF
    lines = [lines[0], Data(body).base64EncodedString(), lines.last!]
    #expect(throws: SigningRequestError.self) {
      try authority.issue(csrPEM: lines.joined(separator: "\n"), commonName: "gw-7")
    }

    let (certificate, serial) = try authority.issue(csrPEM: request, commonName: "gw-7")
    let path = "\(folder)/gw-7.crt"
    try certificate.write(toFile: path, atomically: true, encoding: .utf8)
    let (verified, output) = try run(["openssl", "verify", "-CAfile", "\(folder)/ca.crt", path])
    #expect(verified == 0, "\(output)")
    let (_, text) = try run(["openssl", "x509", "-in", path, "-noout", "-subject", "-ext", "extendedKeyUsage"])
    #expect(text.contains("CN = gw-7") && text.contains("TLS Web Client Authentication"))
    #expect(try CertificateIdentity.serialNumber(pemFile: path) == serial)

    let crl = try authority.revocationList([RevokedSerial(serial: serial, revokedAt: Date())])
    try crl.write(toFile: "\(folder)/crl.pem", atomically: true, encoding: .utf8)
    let (crlStatus, listing) = try run([
      "openssl", "crl", "-in", "\(folder)/crl.pem", "-CAfile", "\(folder)/ca.crt", "-noout", "-text",
    ])
    #expect(crlStatus == 0 && listing.contains("verify OK"))
    #expect(listing.uppercased().contains(serial.uppercased()))
    let (revoked, why) = try run([
      "openssl", "verify", "-crl_check", "-CAfile", "\(folder)/ca.crt", "-CRLfile",
      "\(folder)/crl.pem", path,
    ])
    #expect(revoked != 0 && why.contains("revoked"), "\(why)")
  }
}
