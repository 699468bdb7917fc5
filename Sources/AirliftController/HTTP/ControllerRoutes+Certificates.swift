import AirliftCore
import AirliftCrypto
import Foundation
import Hummingbird

/// A device renews its own certificate: a CSR for a key it made, authenticated by the certificate it holds now.
extension ControllerRoutes {
  /// `POST /api/v1/device/certificate` (a device certificate that is not revoked), body `{"csr": "PEM"}`: a new
  /// certificate for the same id, valid for `deviceCertificateLifetime`. The old one stays valid until it expires
  /// or the device is revoked (which revokes every certificate the controller issued or saw for it).
  @Sendable func renewCertificate(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    let body = try await request.decode(as: API.CertificateRequest.self, context: context)
    try Limits.check("csr (bytes)", body.csr.utf8.count, in: 1...16_384)
    let issued: (certificate: String, serial: String)
    do {
      let authority = try CertificateAuthority(certificateFile: caFile, keyFile: caKeyFile)
      issued = try authority.issue(
        csrPEM: body.csr, commonName: device.rawValue, validitySeconds: deviceCertificateLifetime)
    } catch let error as SigningRequestError {
      throw APIError(status: .badRequest, code: "invalid_csr", message: error.description)
    }
    let validity = try CertificateValidity(pem: issued.certificate, source: "the issued certificate")
    try await store.recordCertificate(device, serial: issued.serial, notAfter: validity.notAfter)
    context.logger.notice(
      "renewed the device's certificate",
      metadata: [
        "device": .string(device.rawValue), "serial": .string(issued.serial),
        "expires": .string(validity.notAfter.formatted(.iso8601)),
      ])
    return try Self.json(
      API.RenewedCertificate(certificate: issued.certificate, serial: issued.serial, expires: validity.notAfter),
      status: .created, context: context)
  }
}
