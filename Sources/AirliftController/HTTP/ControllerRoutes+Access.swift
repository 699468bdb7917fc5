import AirliftCore
import AirliftCrypto
import Foundation
import Hummingbird

/// Access: operator tokens, the audit log, device enrollment and revocation.
extension ControllerRoutes {
  /// `POST /api/v1/tokens`: a new operator token; its secret is in this answer only.
  @Sendable func createToken(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateToken.self, context: context)
    return try await Self.json(
      try store.createToken(
        name: body.name, role: body.role, repositories: body.repositories, by: Self.operatorName(context)),
      status: .created,
      context: context)
  }

  @Sendable func listTokens(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.tokens(), context: context)
  }

  @Sendable func revokeToken(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await store.revokeToken(name: try context.pathParameter("name"))
    return Response(status: .noContent)
  }

  // MARK: Enrollment

  /// `POST /enroll` (bootstrap token): a new device's CSR. A pre-registered id gets its certificate at once.
  @Sendable func enroll(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    guard case .enrollment(let token) = context.identity else {
      throw APIError(status: .forbidden, code: "forbidden", message: "enrolling needs a bootstrap token")
    }
    let body = try await request.decode(as: API.EnrollmentRequest.self, context: context)
    _ = try DeviceID(body.device)
    guard body.csr.utf8.count <= 16 << 10 else { throw SigningRequestError.notACSR }
    // A CSR for another name is refused now, not at approval.
    try CertificateAuthority.checkRequest(body.csr, commonName: body.device)
    let (enrollment, preRegistered) = try await store.submitEnrollment(body, token: token)
    // An id the controller knows already waits for an operator's --replace, even with a pre-registered token.
    guard preRegistered, enrollment.status == .pending, try await store.knownDevice(body.device) == nil else {
      if enrollment.status == .pending, let known = try await store.knownDevice(body.device) {
        context.logger.warning(
          "enrollment request for known device \(body.device) (\(known.online ? "online" : "offline"), \(known.certificates) certificate(s)); approving it needs --replace"
        )
      }
      return try Self.json(enrollment, status: .accepted, context: context)
    }
    return try await Self.json(
      try decide(body.device, approve: true, replace: false, by: "pre-registered"), context: context)
  }

  /// `GET /enroll/{device}` (the same bootstrap token): pending, issued (with the certificate) or rejected.
  @Sendable func enrollmentStatus(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    guard case .enrollment(let token) = context.identity else {
      throw APIError(status: .forbidden, code: "forbidden", message: "enrolling needs a bootstrap token")
    }
    let device = try context.pathParameter("device")
    guard let enrollment = try await store.enrollment(device, token: token) else {
      throw StoreError.deviceNotFound(device)
    }
    return try Self.json(enrollment, context: context)
  }

  @Sendable func createEnrollmentToken(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateEnrollmentToken.self, context: context)
    if let device = body.device { _ = try DeviceID(device) }
    guard (1...100_000).contains(body.uses), (60...31_536_000).contains(body.validFor) else {
      throw APIError(
        status: .badRequest, code: "invalid_request", message: "uses must be 1-100000 and validFor 60 s to a year")
    }
    return try await Self.json(
      try store.createEnrollmentToken(body, by: Self.operatorName(context)), status: .created, context: context)
  }

  @Sendable func listEnrollments(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(
      try store.enrollments().map {
        var e = $0
        e.certificate = nil
        return e
      }, context: context)
  }

  @Sendable func approveEnrollment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Body: Decodable { var replace: Bool? }
    let replace = try await Self.optionalBody(Body.self, request, context: context)?.replace ?? false
    return try await Self.json(
      try decide(
        try context.pathParameter("device"), approve: true, replace: replace, by: Self.operatorName(context)),
      context: context)
  }

  @Sendable func rejectEnrollment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(
      try decide(
        try context.pathParameter("device"), approve: false, replace: false, by: Self.operatorName(context)),
      context: context)
  }

  /// Approving a request for a device the controller knows issues a second certificate with its CN: only with
  /// `replace`, which revokes the certificates it holds now.
  private func decide(_ device: String, approve: Bool, replace: Bool, by: String?) async throws -> API.Enrollment {
    if approve, let known = try await store.knownDevice(device) {
      guard replace else {
        throw APIError(
          status: .conflict, code: "device_known",
          message:
            "device \(device) is already known (\(known.online ? "online now" : "offline"), \(known.certificates) certificate(s)): approving would issue a second certificate for it; approve with --replace to revoke its current certificates, or reject the request"
        )
      }
      _ = try await revocations.replaceCertificates(of: try DeviceID(device), by: by)
    }
    return try await store.decideEnrollment(device, approve: approve, by: by) { csr in
      let authority = try CertificateAuthority(certificateFile: caFile, keyFile: caKeyFile)
      return try authority.issue(csrPEM: csr, commonName: device, validitySeconds: deviceCertificateLifetime)
    }
  }

  /// `GET /api/v1/audit?limit=N`: operator writes, newest first.
  @Sendable func auditLog(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    var limit = 100
    if let text = request.formQuery.get("limit") {
      guard let value = Int(text), (1...10_000).contains(value) else {
        throw AirliftCoreError.outOfRange(field: "limit", value: "'\(text.prefix(64))'", allowed: "1 to 10000 entries")
      }
      limit = value
    }
    return try await Self.json(try store.auditLog(limit: limit), context: context)
  }

  /// `POST /api/v1/devices/{id}/revoke`: the device's certificates go on the broker's CRL.
  @Sendable func revokeDevice(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try DeviceID(try context.pathParameter("id"))
    let reason = try await Self.reason(request, context: context)
    return try Self.json(
      try await revocations.revoke(device, reason: reason, by: Self.operatorName(context)), context: context)
  }
}
