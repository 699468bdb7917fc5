import AirliftCore
import Foundation
import Hummingbird
import NIOCore

/// Logging in and out of the dashboard: an operator token in a form opens a
/// session kept in an `HttpOnly`, `Secure`, `SameSite=Strict` cookie.
extension DashboardRoutes {
  static let cookieName = "airlift_session"

  struct LoginView {
    var error: String?
    var next: String
  }

  @Sendable func loginPage(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let next = Self.safeNext(request.formQuery.get("next"))
    return renderer.page(
      "login", layout: DashboardLayout(title: "Log in", page: "login"), view: LoginView(error: nil, next: next))
  }

  @Sendable func login(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    struct Form: Decodable {
      var token: String?
      var next: String?
    }
    let body = try await request.body.collect(upTo: 8192)
    let form = try? URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))
    let next = Self.safeNext(form?.next)
    let token = form?.token?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    // The dashboard's pages show every repository's releases and deployments: limited tokens use the API.
    if !token.isEmpty, let (_, _, scope) = try await store.authenticate(token: token), scope != nil {
      return renderer.page(
        "login", layout: DashboardLayout(title: "Log in", page: "login"),
        view: LoginView(
          error:
            "That token is limited to some repositories; the dashboard shows the whole fleet, so it takes tokens without a repository limit. Use the airlift CLI or the REST API with it.",
          next: next), status: .forbidden)
    }
    guard !token.isEmpty, let (secret, session) = try await store.openSession(token: token) else {
      return renderer.page(
        "login", layout: DashboardLayout(title: "Log in", page: "login"),
        view: LoginView(error: "That operator token is unknown or was revoked.", next: next), status: .unauthorized)
    }
    context.logger.info("dashboard login", metadata: ["operator": .string(session.tokenName)])
    var response = DashboardRenderer.redirect(next)
    response.setCookie(
      Cookie(
        name: Self.cookieName, value: secret, maxAge: Int(ControllerStore.sessionLifetime), path: "/", secure: true,
        httpOnly: true, sameSite: .strict))
    return response
  }

  @Sendable func logout(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    if let secret = request.cookies[Self.cookieName]?.value { try await store.closeSession(secret) }
    var response = DashboardRenderer.redirect("/ui/login")
    response.setCookie(
      Cookie(name: Self.cookieName, value: "", maxAge: 0, path: "/", secure: true, httpOnly: true, sameSite: .strict))
    return response
  }

  /// Where to go after logging in: a dashboard path only (never another site).
  static func safeNext(_ next: String?) -> String {
    guard let next, next.hasPrefix("/ui/"), !next.hasPrefix("//"), !next.contains("\\"), !next.hasPrefix("/ui/login")
    else { return "/ui/fleet" }
    return next
  }
}

/// Sends a browser without a session to the login page, and back here after it.
struct DashboardLoginRequired: RouterMiddleware {
  typealias Context = ControllerRequestContext

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    guard case .operator = context.identity else {
      var target = request.uri.path
      if let query = request.uri.query, !query.isEmpty { target += "?" + query }
      let encoded = target.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? "/ui/fleet"
      return DashboardRenderer.redirect("/ui/login?next=\(encoded)")
    }
    return try await next(request, context)
  }
}

extension CharacterSet {
  /// What may stay unescaped in a query value.
  static let urlQueryValueAllowed = CharacterSet(
    charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/")
}
