import AirliftCore
import Foundation

/// Device properties reaching devices: a retained `config` message per
/// device whenever what it should have changes (its own properties, its
/// groups', its membership), and again when a check-in says it applied
/// another version (a device that was away, a dynamic group it joined).
extension DeploymentService {
  public func setProperties(device: DeviceID, _ change: API.SetProperties) async throws -> API.DeviceProperties {
    try change.validate()
    try await store.setProperties(.device, device.rawValue, change)
    await publishConfig(to: [device])
    return try await store.deviceProperties(device)
  }

  public func setProperties(group: String, _ change: API.SetProperties) async throws -> API.GroupProperties {
    try change.validate()
    try await store.setProperties(.group, group, change)
    await publishConfig(to: try await store.members(of: group))
    return try await store.groupProperties(group)
  }

  /// After a check-in: a device whose applied version is not the desired one gets its config again (MQTT).
  func configMayHaveDrifted(_ device: DeviceID) async {
    // publishConfig reads the device's properties once and leaves a device in sync alone.
    await publishConfig(to: [device])
  }

  /// The config a polling device's check-in answer carries: only when it applied another version.
  func configForCheckIn(_ device: DeviceID) async throws -> DeviceConfig? {
    let properties = try await store.deviceProperties(device)
    return properties.inSync ? nil : properties.config
  }

  /// Publishes each device's config, retained, so a device that is away gets it when it connects; a device
  /// that has what it should (or never had properties and still has none) is left alone. In the background,
  /// a bounded number at a time: a group of many devices does not hold up the request that changed it.
  func publishConfig(to devices: [DeviceID]) async {
    guard !devices.isEmpty else { return }
    Task { [store, mqtt, logger] in
      await withTaskGroup(of: Void.self) { group in
        for (index, device) in devices.enumerated() {
          if index >= Self.publishWindow { await group.next() }
          group.addTask {
            do {
              let properties = try await store.deviceProperties(device)
              guard !properties.inSync else { return }
              try await mqtt.publish(
                Topics.device(device, .config), payload: Wire.encode(properties.config), qos: 1, retain: true)
            } catch {
              logger.warning(
                "could not publish the properties of \(device): \(error)",
                metadata: ["device": .string(device.rawValue)])
            }
          }
        }
      }
    }
  }
}
