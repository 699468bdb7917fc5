import AirliftCore
import Foundation
import Hummingbird

/// Update flows: `POST/GET /api/v1/flows`, `GET/DELETE /api/v1/flows/{name}`
/// (`?version=N` for an older one, `?versions=all` for every one), and
/// `POST /api/v1/flows/{name}/deployments` to run one in a single call.
extension ControllerRoutes {
  @Sendable func createFlow(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.CreateFlow.self, context: context)
    return try await Self.json(
      try deployments.createFlow(body, by: Self.operatorName(context)), status: .created, context: context)
  }

  @Sendable func listFlows(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.flows(), context: context)
  }

  @Sendable func showFlow(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let name = try context.pathParameter("name")
    if let versions = request.formQuery.get("versions"), versions != "all" {
      throw APIError(
        status: .badRequest, code: "invalid_request",
        message: "versions takes one value: all (not '\(versions.prefix(64))')")
    }
    // Checked first, so a bad one is refused even beside versions=all (which lists every version).
    let version = try request.formQuery.get("version").map { text in
      guard let number = Int(text), (1...1_000_000).contains(number) else {
        throw APIError(
          status: .badRequest, code: "invalid_request", message: "version must be a number from 1 to 1000000")
      }
      return number
    }
    if request.formQuery.get("versions") == "all" {
      let versions = try await store.flowVersions(name)
      guard !versions.isEmpty else { throw StoreError.flowNotFound(name, version: nil) }
      return try Self.json(versions, context: context)
    }
    guard let flow = try await store.flow(name, version: version) else {
      throw StoreError.flowNotFound(name, version: version)
    }
    return try Self.json(flow, context: context)
  }

  @Sendable func deleteFlow(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await store.deleteFlow(try context.pathParameter("name"))
    return Response(status: .noContent)
  }

  @Sendable func launchFlow(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let body = try await request.decode(as: API.LaunchFlow.self, context: context)
    try RepositoryAccess.require(.deployer, for: body.package, context)
    return try Self.json(
      try await deployments.launch(flow: try context.pathParameter("name"), body, by: Self.operatorName(context)),
      status: .created, context: context)
  }
}
