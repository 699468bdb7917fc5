import AirliftCore
import Foundation
import HTTPTypes

/// What an operator token limited to some repositories may do: read the fleet; read, publish and deploy in its
/// repositories as far as its role there goes; nothing fleet-wide (tokens, enrollment, groups, freezes).
enum RepositoryAccess {
  /// Path areas whose next segment is a package name (`/api/v1/releases/{package}/…`).
  static let packageAreas: Set<Substring> = ["releases", "packages", "channels"]

  /// Why the middleware refuses a limited token's request outright; nil: let it through (handlers check what
  /// only they can see: a body's package, a deployment's release).
  static func refusal(
    method: HTTPRequest.Method, path: String, actor: String, role: API.Role, scope: RepositoryScope
  ) -> APIError? {
    let reads = method == .get || method == .head
    let segments = path.split(separator: "/")
    let area = segments.count >= 3 && segments[0] == "api" && segments[1] == "v1" ? segments[2] : nil
    if let area, packageAreas.contains(area), segments.count >= 4 {
      let package = String(segments[3]).removingPercentEncoding ?? String(segments[3])
      guard (try? Names.validatePackage(package)) != nil else { return nil }  // the handler says what is wrong
      let needed: API.Role = reads ? .reader : method == .delete ? .admin : .deployer
      return check(needed, in: Names.repository(of: package), actor: actor, role: role, scope: scope)
    }
    if reads { return nil }
    let last = segments.last
    let repositoryWrite =
      path == "/api/v1/blobs" || path == "/api/v1/releases" || area == "deployments"
      || (area == "flows" && last == "deployments")
    return repositoryWrite ? nil : error(.fleetWide(actor: actor))
  }

  /// Refuses unless the caller has `needed` in the repository of `package` (always passes without a limit).
  static func require(_ needed: API.Role, for package: String, _ context: ControllerRequestContext) throws {
    try require(needed, inRepository: Names.repository(of: package), context)
  }

  static func require(_ needed: API.Role, inRepository repository: String, _ context: ControllerRequestContext)
    throws
  {
    guard let scope = context.scope, case .operator(let actor, let role) = context.identity else { return }
    if let refusal = check(needed, in: repository, actor: actor, role: role, scope: scope) { throw refusal }
  }

  /// Whether the caller may read the repository of `package` (lists leave out the rest).
  static func mayRead(_ package: String, _ context: ControllerRequestContext) -> Bool {
    mayRead(repository: Names.repository(of: package), context)
  }

  static func mayRead(repository: String, _ context: ControllerRequestContext) -> Bool {
    guard let scope = context.scope, case .operator(_, let role) = context.identity else { return true }
    return scope.role(in: repository, capped: role) != nil
  }

  private static func check(
    _ needed: API.Role, in repository: String, actor: String, role: API.Role, scope: RepositoryScope
  ) -> APIError? {
    let has = scope.role(in: repository, capped: role)
    if let has, has.covers(needed) { return nil }
    return error(.forbidden(actor: actor, repository: repository, needs: needed, has: has))
  }

  private static func error(_ refusal: RepositoryError) -> APIError {
    APIError(status: HTTPResponse.Status(code: refusal.status), code: refusal.code, message: refusal.description)
  }
}
