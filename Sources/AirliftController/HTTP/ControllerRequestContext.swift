import AirliftCore
import AirliftCrypto
import Foundation
import Hummingbird
import NIOCore
import NIOSSL

/// Who is calling, from the TLS client certificate the fleet CA signed.
public enum CallerIdentity: Sendable, Equatable {
  /// An operator; `canWrite` is false for read-only operators.
  case `operator`(String, canWrite: Bool)
  case device(DeviceID)
}

/// Request context that keeps the connection, so handlers can read the
/// caller's client certificate.
public struct ControllerRequestContext: RequestContext {
  public var coreContext: CoreRequestContextStorage
  let channel: any Channel
  var identity: CallerIdentity?

  /// JSON bodies larger than this are refused with 413 (asset uploads stream and have `maxArtifactSize`).
  public var maxUploadSize: Int { API.maxRequestBody }

  public init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    channel = source.channel
  }
}

/// Maps the client certificate's CN to an identity: a configured operator
/// name, or otherwise a device id. Anything else is refused with 403.
struct IdentityMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext
  let operators: Set<String>
  let readers: Set<String>
  let revocations: RevocationService

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    var context = context
    let certificate = try await context.channel.nioSSL_peerCertificate().get()
    guard let der = try certificate?.toDERBytes() else {
      throw APIError(
        status: .unauthorized, code: "unauthenticated",
        message: "a client certificate signed by the fleet CA is required")
    }
    let name = try CertificateIdentity.commonName(der: der)
    if operators.contains(name) {
      context.identity = .operator(name, canWrite: true)
    } else if readers.contains(name) {
      context.identity = .operator(name, canWrite: false)
    } else if let device = try? DeviceID(name) {
      try revocations.admit(device, serial: try CertificateIdentity.serialNumber(der: der))
      context.identity = .device(device)
    } else {
      throw APIError(
        status: .forbidden, code: "forbidden",
        message: "certificate CN '\(name)' is neither an operator nor a valid device id")
    }
    return try await next(request, context)
  }
}

/// Lets only operators through; read-only operators only read.
struct OperatorOnlyMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    guard case .operator(let name, let canWrite) = context.identity else {
      throw APIError(
        status: .forbidden, code: "forbidden", message: "this API is for operators; a device certificate cannot use it")
    }
    guard canWrite || request.method == .get || request.method == .head else {
      throw APIError(status: .forbidden, code: "read_only", message: "operator '\(name)' may only read")
    }
    return try await next(request, context)
  }
}

/// An API error: HTTP status, a stable machine-readable code and a message
/// for a person, rendered as `{"error": {"code": ..., "message": ...}}`.
struct APIError: HTTPResponseError {
  let status: HTTPResponse.Status
  let code: String
  let message: String

  func response(from request: Request, context: some RequestContext) throws -> Response {
    let body = Wire.encode(API.ErrorBody(code: code, message: message))
    return Response(
      status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
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
    } catch let error as APIError {
      throw error
    } catch let error as StoreError {
      let status: HTTPResponse.Status
      switch error {
      case .releaseExists, .groupExists, .tagLocked, .devicesBusy, .invalidTransition, .fleetFrozen, .approvalRefused,
        .dynamicGroup, .releaseUnsigned, .releaseExpired:
        status = .conflict
      case .releaseNotFound, .deploymentNotFound, .tagNotFound, .groupNotFound, .deviceNotFound, .commandNotFound:
        status = .notFound
      case .blobNotFound, .noTargetDevices, .manifestMismatch: status = .badRequest
      case .packageNotInstalled: status = .conflict
      }
      throw APIError(status: status, code: error.code, message: error.description)
    } catch let error as DeploymentError {
      throw APIError(status: .badRequest, code: "invalid_request", message: error.description)
    } catch let error as PolicyExpressionError {
      throw APIError(status: .badRequest, code: "invalid_expression", message: error.description + "\n" + error.pointer)
    } catch is NIOTooManyBytesError {
      throw APIError(
        status: .contentTooLarge, code: "payload_too_large",
        message: "the request body is larger than the \(API.maxRequestBody)-byte limit")
    } catch let error as BlobTooLarge {
      throw APIError(status: .contentTooLarge, code: "artifact_too_large", message: error.description)
    } catch let error as ReleaseRefusal {
      throw APIError(status: .badRequest, code: "invalid_manifest", message: error.description)
    } catch let error as AirliftCoreError {
      throw APIError(status: .badRequest, code: "invalid_request", message: error.description)
    } catch let error as CertificateError {
      throw APIError(status: .forbidden, code: "forbidden", message: error.description)
    } catch let error as HTTPError {
      throw APIError(
        status: error.status, code: Self.code(for: error.status), message: error.body ?? error.status.reasonPhrase)
    } catch let error as DecodingError {
      throw APIError(status: .badRequest, code: "invalid_request", message: "malformed JSON body: \(error)")
    } catch {
      context.logger.error("request failed: \(error)")
      throw APIError(status: .internalServerError, code: "internal", message: "internal error; see the controller log")
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
