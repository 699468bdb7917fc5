import AirliftCore
import AsyncHTTPClient

/// Device properties: what operators want a device or a group to have.
extension ControllerClient {
  public func deviceProperties(_ device: String) async throws -> API.DeviceProperties {
    try await get("/api/v1/devices/\(Self.escape(device))/properties", as: API.DeviceProperties.self)
  }

  public func setProperties(device: String, _ change: API.SetProperties) async throws -> API.DeviceProperties {
    try await send(
      json: change, method: .PUT, path: "/api/v1/devices/\(Self.escape(device))/properties",
      as: API.DeviceProperties.self)
  }

  public func groupProperties(_ group: String) async throws -> API.GroupProperties {
    try await get("/api/v1/groups/\(Self.escape(group))/properties", as: API.GroupProperties.self)
  }

  public func setProperties(group: String, _ change: API.SetProperties) async throws -> API.GroupProperties {
    try await send(
      json: change, method: .PUT, path: "/api/v1/groups/\(Self.escape(group))/properties",
      as: API.GroupProperties.self)
  }
}
