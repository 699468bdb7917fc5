import Hummingbird
import Synchronization

/// The methods each route of the router answers, for telling "no such
/// resource" (404) from "no such method on this resource" (405 with Allow).
///
/// Filled once, after every route is registered: the middleware that reads
/// it must be added to the router before the routes it guards.
final class RouteMethods: Sendable {
  private let routes = Mutex<[(path: RouterPath, methods: Set<HTTPRequest.Method>)]>([])

  /// Records the router's routes (its `routes` description, grouped by path).
  func record(_ descriptions: [Router<ControllerRequestContext>.RouteDescription]) {
    var grouped: [(path: RouterPath, methods: Set<HTTPRequest.Method>)] = []
    for route in descriptions {
      if let index = grouped.firstIndex(where: { $0.path == route.path }) {
        grouped[index].methods.insert(route.method)
      } else {
        grouped.append((route.path, [route.method]))
      }
    }
    routes.withLock { $0 = grouped }
  }

  /// The methods a route matching `path` answers; empty when none matches.
  func methods(for path: String) -> Set<HTTPRequest.Method> {
    let segments = path.split(separator: "/", omittingEmptySubsequences: true)
    return routes.withLock { routes in
      routes.reduce(into: Set<HTTPRequest.Method>()) { allowed, route in
        guard route.path.components.count == segments.count,
          zip(route.path.components, segments).allSatisfy({ $0 ~= $1 })
        else { return }
        allowed.formUnion(route.methods)
      }
    }
  }
}

/// Answers a request whose path names a resource but whose method that
/// resource does not have with 405 and an Allow header (RFC 9110 §15.5.6),
/// instead of the router's 404.
struct MethodNotAllowedMiddleware: RouterMiddleware {
  typealias Context = ControllerRequestContext
  let routes: RouteMethods

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    do {
      return try await next(request, context)
    } catch let error as HTTPError where error.status == .notFound {
      let allowed = routes.methods(for: request.uri.path)
      guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
      let list = allowed.map(\.rawValue).sorted().joined(separator: ", ")
      throw APIError(
        status: .methodNotAllowed, code: "method_not_allowed",
        message: "\(request.method.rawValue) is not a method of \(request.uri.path); it answers \(list)",
        headers: [.allow: list])
    }
  }
}
