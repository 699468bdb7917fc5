import AirliftCore
import AirliftCrypto
import Hummingbird
import NIOCore
import NIOSSL

/// Who is calling, from the TLS client certificate the fleet CA signed.
public enum CallerIdentity: Sendable, Equatable {
  case `operator`(String)
  case device(DeviceID)
}

/// Request context that keeps the connection, so handlers can read the
/// caller's client certificate.
public struct ControllerRequestContext: RequestContext {
  public var coreContext: CoreRequestContextStorage
  let channel: any Channel
  var identity: CallerIdentity?

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

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    var context = context
    let certificate = try await context.channel.nioSSL_peerCertificate().get()
    guard let der = try certificate?.toDERBytes() else {
      throw HTTPError(.unauthorized, message: "a client certificate signed by the fleet CA is required")
    }
    let name = try CertificateIdentity.commonName(der: der)
    if operators.contains(name) {
      context.identity = .operator(name)
    } else if let device = try? DeviceID(name) {
      context.identity = .device(device)
    } else {
      throw HTTPError(.forbidden, message: "certificate CN '\(name)' is neither an operator nor a valid device id")
    }
    return try await next(request, context)
  }
}

/// Lets only operators through.
struct OperatorOnlyMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    guard case .operator = context.identity else {
      throw HTTPError(.forbidden, message: "this API is for operators; a device certificate cannot use it")
    }
    return try await next(request, context)
  }
}

/// Turns the controller's typed errors into HTTP errors with their message.
struct ErrorMappingMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    do {
      return try await next(request, context)
    } catch let error as StoreError {
      switch error {
      case .releaseExists: throw HTTPError(.conflict, message: error.description)
      case .releaseNotFound, .deploymentNotFound: throw HTTPError(.notFound, message: error.description)
      case .noTargetDevices: throw HTTPError(.badRequest, message: error.description)
      }
    } catch let error as DeploymentError {
      throw HTTPError(.badRequest, message: error.description)
    } catch let error as AirliftCoreError {
      throw HTTPError(.badRequest, message: error.description)
    } catch let error as CertificateError {
      throw HTTPError(.forbidden, message: error.description)
    }
  }
}
