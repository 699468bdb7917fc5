import AirliftCore
import Foundation

extension ControllerStore {
  /// What `device` could run: its current deployment, the versions its channels' tags name, and the releases
  /// its distribution policies offer it.
  public func availableUpdates(for device: DeviceID) async throws -> AvailableUpdates {
    let desired = try await desiredDeployments(for: [device])[device]
    return try await db.read { db in
      guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM device WHERE id = ?", arguments: [device.rawValue])
      else { throw StoreError.deviceNotFound(device.rawValue) }
      let record = Self.device(from: row)
      var offers: [AvailableUpdates.Offer] = []
      if let desired {
        let state = try String.fetchOne(
          db, sql: "SELECT state FROM device_deployment WHERE deployment_id = ? AND device_id = ?",
          arguments: [desired.deploymentID, device.rawValue]
        ).flatMap(DeviceState.init(rawValue:))
        let package = desired.release.package
        offers.append(
          .init(
            package: package, version: desired.release.version, source: .deployment, via: desired.deploymentID,
            state: state, installed: record.installed[package]))
      }
      for (package, tag) in (record.channels ?? [:]).sorted(by: { $0.key < $1.key }) {
        guard
          let version = try String.fetchOne(
            db, sql: "SELECT version FROM tag WHERE package = ? AND name = ?", arguments: [package, tag])
        else { continue }
        offers.append(
          .init(package: package, version: version, source: .channel, via: tag, installed: record.installed[package]))
      }
      for package in record.installed.keys.sorted() where record.channels?[package] == nil {
        guard let offer = try Self.policyOffer(for: record, package: package, db: db) else { continue }
        offers.append(
          .init(
            package: package, version: offer.version, source: .policy, installed: record.installed[package]))
      }
      return AvailableUpdates(
        device: device.rawValue, installed: record.installed, offers: offers.filter { record.mayRead($0.package) })
    }
  }
}
