import AirliftCore
import Foundation
import Hummingbird

/// Device properties over REST: what a device or group should have, set and unset by operators.
extension ControllerRoutes {
  /// `GET /api/v1/devices/{id}/properties`: desired (with where each part comes from) and reported.
  @Sendable func deviceProperties(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.pathParameter("id"))
    return try await Self.json(try store.deviceProperties(id), context: context)
  }

  /// `PUT /api/v1/devices/{id}/properties`: `{"set": {...}, "unset": [...]}`; the device gets the result.
  @Sendable func setDeviceProperties(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.pathParameter("id"))
    let change = try await request.decode(as: API.SetProperties.self, context: context)
    return try await Self.json(try deployments.setProperties(device: id, change), context: context)
  }

  @Sendable func groupProperties(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    try await Self.json(try store.groupProperties(try context.pathParameter("name")), context: context)
  }

  /// `PUT /api/v1/groups/{name}/properties`: every member gets its new merged set.
  @Sendable func setGroupProperties(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let change = try await request.decode(as: API.SetProperties.self, context: context)
    return try await Self.json(
      try deployments.setProperties(group: try context.pathParameter("name"), change), context: context)
  }
}
