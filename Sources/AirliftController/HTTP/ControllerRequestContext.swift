import AirliftCore
import AirliftCrypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL

/// Who is calling: from the TLS client certificate the fleet CA signed, or an operator token.
public enum CallerIdentity: Sendable, Equatable {
  /// An operator: a certificate CN, or `token:NAME`; the role says what it may do.
  case `operator`(String, role: API.Role)
  case device(DeviceID)
  /// A new device holding only a bootstrap token (by its id): it may only enroll.
  case enrollment(String)
}

/// Request context that keeps the connection, so handlers can read the
/// caller's client certificate.
public struct ControllerRequestContext: RequestContext {
  public var coreContext: CoreRequestContextStorage
  let channel: any Channel
  var identity: CallerIdentity?
  /// The repositories a limited operator token may reach, each with its role there; nil: no limit.
  var scope: RepositoryScope?

  /// JSON bodies larger than this are refused with 413 (asset uploads stream and have `maxArtifactSize`).
  public var maxUploadSize: Int { API.maxRequestBody }

  /// Reads request bodies' times as RFC 3339 with or without fractions and offsets (`startAt`), as the wire does.
  public var requestDecoder: JSONDecoder { Wire.decoder() }

  public init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    channel = source.channel
  }
}

/// Maps the caller to an identity: a client certificate's CN (a configured
/// operator or reader, or otherwise a device id), or else an operator token
/// (`Authorization: Bearer alt_…`). Anything else is refused.
struct IdentityMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext
  let operators: Set<String>
  let readers: Set<String>
  let revocations: RevocationService
  let store: ControllerStore
  /// Proxies whose X-Client-Cert header stands for the caller's certificate.
  let trustedProxies: Set<String>

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    var context = context
    let certificate = try await context.channel.nioSSL_peerCertificate().get()
    let presented =
      try certificate?.toDERBytes()
      ?? TrustedProxy.forwardedCertificate(
        request.headers, from: context.channel.remoteAddress, trusted: trustedProxies)
    guard let der = presented else {
      guard let header = request.headers[.authorization], let secret = Self.bearerToken(header) else {
        if let cookie = request.cookies[DashboardRoutes.cookieName]?.value,
          let session = try await store.session(cookie)
        {
          // A dashboard session: REST writes must carry the header only the dashboard's own script sets.
          let reads = request.method == .get || request.method == .head
          if !reads && !request.uri.path.hasPrefix("/ui/") && request.headers[.airliftUI] != "1" {
            throw APIError(
              status: .forbidden, code: "forbidden",
              message: "a write with a dashboard session must come from the dashboard (X-Airlift-UI header)")
          }
          context.identity = .operator("token:\(session.tokenName)", role: session.role)
          context.scope = try await store.tokenScope(name: session.tokenName)
          return try await next(request, context)
        }
        // Health checks and the dashboard's login page need no credentials; other /ui pages send to it.
        if Self.isOpen(request.uri.path) { return try await next(request, context) }
        throw APIError(
          status: .unauthorized, code: "unauthenticated",
          message:
            "a client certificate signed by the fleet CA, or an operator token (Authorization: Bearer …), is required")
      }
      if let bootstrap = try await store.enrollmentTokenID(secret) {
        context.identity = .enrollment(bootstrap)
        return try await next(request, context)
      }
      guard let (name, role, scope) = try await store.authenticate(token: secret) else {
        throw APIError(
          status: .unauthorized, code: "invalid_token", message: "the operator token is unknown or was revoked")
      }
      context.identity = .operator("token:\(name)", role: role)
      context.scope = scope
      return try await next(request, context)
    }
    let name = try CertificateIdentity.commonName(der: der)
    if operators.contains(name) {
      context.identity = .operator(name, role: .admin)
    } else if readers.contains(name) {
      context.identity = .operator(name, role: .reader)
    } else if let device = try? DeviceID(name) {
      try await revocations.admit(
        device, serial: try CertificateIdentity.serialNumber(der: der),
        notAfter: (try? CertificateValidity(der: der))?.notAfter)
      context.identity = .device(device)
    } else {
      throw APIError(
        status: .forbidden, code: "forbidden",
        message: "certificate CN '\(name)' is neither an operator nor a valid device id")
    }
    return try await next(request, context)
  }

  /// Paths served without credentials (their handlers decide what an anonymous caller sees).
  /// The credentials of an `Authorization: Bearer …` header; the scheme is case-insensitive (RFC 9110).
  static func bearerToken(_ header: String) -> String? {
    let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
    let token = parts[1].trimmingCharacters(in: .whitespaces)
    return token.isEmpty ? nil : token
  }

  static func isOpen(_ path: String) -> Bool {
    path == "/healthz" || path == "/readyz" || path == "/ui" || path.hasPrefix("/ui/") || path.hasPrefix("/links/")
  }
}

/// Lets only operators through, each as far as its role goes: readers read,
/// deployers also change releases, deployments and the fleet, admins also
/// manage tokens and revoke devices. Every operator write goes to the audit log.
struct OperatorOnlyMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext
  let store: ControllerStore?

  init(store: ControllerStore? = nil) { self.store = store }

  /// Routes only admins may use.
  static func isAdminOnly(_ path: String) -> Bool {
    path.hasPrefix("/api/v1/tokens") || path.hasPrefix("/api/v1/enrollment")
      || (path.hasPrefix("/api/v1/devices/") && path.hasSuffix("/revoke"))
  }

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    guard case .operator(let name, let role) = context.identity else {
      throw APIError(
        status: .forbidden, code: "forbidden", message: "this API is for operators; a device certificate cannot use it")
    }
    let reads = request.method == .get || request.method == .head
    var refusal: APIError?
    if role == .reader && !reads {
      refusal = APIError(status: .forbidden, code: "read_only", message: "operator '\(name)' may only read")
    } else if role != .admin && Self.isAdminOnly(request.uri.path) {
      refusal = APIError(
        status: .forbidden, code: "admin_only",
        message: "operator '\(name)' (\(role.rawValue)) cannot do this; an admin can")
    } else if let scope = context.scope {
      refusal = RepositoryAccess.refusal(
        method: request.method, path: request.uri.path, actor: name, role: role, scope: scope)
    }
    guard !reads, store != nil else {
      if let refusal { throw refusal }
      return try await next(request, context)
    }
    // Writes are recorded whatever happens, refusals included.
    do {
      if let refusal { throw refusal }
      let response = try await next(request, context)
      await record(name, request, Int(response.status.code))
      return response
    } catch {
      let mapped = ErrorMappingMiddleware.map(error, logger: context.logger)
      await record(name, request, Int(mapped.status.code))
      throw mapped
    }
  }

  private func record(_ actor: String, _ request: Request, _ status: Int) async {
    try? await store?.audit(
      API.AuditEntry(at: Date(), actor: actor, method: request.method.rawValue, path: request.uri.path, status: status))
  }
}

/// An API error: HTTP status, a stable machine-readable code and a message
/// for a person, rendered as `{"error": {"code": ..., "message": ...}}`.
struct APIError: HTTPResponseError {
  let status: HTTPResponse.Status
  let code: String
  let message: String
  /// Headers the answer carries besides Content-Type (Allow on a 405).
  var headers: HTTPFields = [:]

  func response(from request: Request, context: some RequestContext) throws -> Response {
    let body = Wire.encode(API.ErrorBody(code: code, message: message))
    var fields = headers
    fields[.contentType] = "application/json"
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
  }
}

/// Turns every error into an `APIError`: the controller's typed errors keep
/// their codes; bad input is a 4xx, never a 500.
struct ErrorMappingMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    do {
      return try await next(request, context)
    } catch {
      throw Self.map(error, logger: context.logger)
    }
  }

  /// The API error a thrown error becomes.
  static func map(_ error: any Error, logger: Logger) -> APIError {
    do {
      throw error
    } catch let error as APIError {
      return error
    } catch let error as ReleaseInUse {
      return APIError(status: .conflict, code: "release_in_use", message: error.description)
    } catch let error as RepositoryError {
      return APIError(status: HTTPResponse.Status(code: error.status), code: error.code, message: error.description)
    } catch let error as StoreError {
      let status: HTTPResponse.Status
      switch error {
      case .releaseExists, .groupExists, .tagLocked, .devicesBusy, .invalidTransition, .fleetFrozen, .approvalRefused,
        .dynamicGroup, .releaseUnsigned, .releaseExpired, .tokenExists, .metadataExists, .downgradeNotSigned,
        .incompatibleDevices:
        status = .conflict
      case .releaseNotFound, .deploymentNotFound, .tagNotFound, .groupNotFound, .deviceNotFound, .commandNotFound,
        .tokenNotFound, .flowNotFound, .metadataNotFound:
        status = .notFound
      case .blobNotFound, .noTargetDevices, .manifestMismatch, .invalidTokenName, .unknownDevices, .tooManyProperties:
        status = .badRequest
      case .packageNotInstalled: status = .conflict
      }
      return APIError(status: status, code: error.code, message: error.description)
    } catch let error as DeploymentError {
      return APIError(status: .badRequest, code: "invalid_request", message: error.description)
    } catch let error as FlowError {
      let code =
        switch error {
        case .unknownParameters, .missingParameters: "invalid_parameters"
        case .handlerMismatch: "handler_mismatch"
        case .invalid: "invalid_flow"
        }
      return APIError(status: .badRequest, code: code, message: error.description)
    } catch let error as PolicyExpressionError {
      return APIError(
        status: .badRequest, code: "invalid_expression", message: error.description + "\n" + error.pointer)
    } catch is NIOTooManyBytesError {
      return APIError(
        status: .contentTooLarge, code: "payload_too_large",
        message: "the request body is larger than the \(API.maxRequestBody)-byte limit")
    } catch let error as EnrollmentError {
      switch error {
      case .tokenUnusable: return APIError(status: .forbidden, code: "enrollment_refused", message: error.description)
      case .notPending: return APIError(status: .conflict, code: "not_pending", message: error.description)
      }
    } catch let error as SigningRequestError {
      return APIError(status: .badRequest, code: "invalid_csr", message: error.description)
    } catch let error as BlobTooLarge {
      return APIError(status: .contentTooLarge, code: "artifact_too_large", message: error.description)
    } catch let error as ReleaseRefusal {
      return APIError(status: .badRequest, code: "invalid_manifest", message: error.description)
    } catch let error as AirliftCoreError {
      if case .outOfRange = error {
        return APIError(status: .badRequest, code: "out_of_range", message: error.description)
      }
      return APIError(status: .badRequest, code: "invalid_request", message: error.description)
    } catch let error as CertificateError {
      return APIError(status: .forbidden, code: "forbidden", message: error.description)
    } catch let error as HTTPError {
      return APIError(
        status: error.status, code: Self.code(for: error.status), message: error.body ?? error.status.reasonPhrase)
    } catch let error as DecodingError {
      return APIError(status: .badRequest, code: "invalid_request", message: "malformed JSON body: \(error)")
    } catch {
      logger.error("request failed: \(error)")
      return APIError(status: .internalServerError, code: "internal", message: "internal error; see the controller log")
    }
  }

  static func code(for status: HTTPResponse.Status) -> String {
    switch status.code {
    case 400: return "invalid_request"
    case 401: return "unauthenticated"
    case 403: return "forbidden"
    case 404: return "not_found"
    case 405: return "method_not_allowed"
    case 409: return "conflict"
    case 413: return "payload_too_large"
    default: return status.code >= 500 ? "internal" : "invalid_request"
    }
  }
}

/// Counts every routed request by its route pattern, method and status (for `/metrics`).
struct RequestMetricsMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext
  let metrics: ControllerMetrics

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    let route = context.endpointPath ?? "unknown"
    do {
      let response = try await next(request, context)
      metrics.httpRequest(route: route, method: request.method.rawValue, status: Int(response.status.code))
      return response
    } catch let error as any HTTPResponseError {
      metrics.httpRequest(route: route, method: request.method.rawValue, status: Int(error.status.code))
      throw error
    } catch {
      metrics.httpRequest(route: route, method: request.method.rawValue, status: 500)
      throw error
    }
  }
}

extension Request {
  /// The query as forms write it (`+` is a space), for every route and page.
  var formQuery: FormQuery { FormQuery(uri.query) }
}

extension ControllerRequestContext {
  /// A path parameter, percent-decoded (`gw%2D01` is the device `gw-01`), so what is checked and looked up is
  /// what the client meant; checked here by its name, for every route alike: a package, version, tag or
  /// name, device id, digest or asset name that could never exist is a 400 naming it, not a lookup.
  func pathParameter(_ name: String) throws -> String {
    let raw = try parameters.require(name)
    let value = raw.removingPercentEncoding ?? raw
    switch name {
    case "package": try Names.validatePackage(value)
    case "version": _ = try SemanticVersion(value)
    case "tag", "name": try Names.validateTag(value)
    case "repository": try Names.validateRepository(value)
    case "device": _ = try DeviceID(value)
    case "sha256": try Names.validateDigest(value)
    case "asset": try Names.validateAssetName(value)
    default: break
    }
    return value
  }
}
