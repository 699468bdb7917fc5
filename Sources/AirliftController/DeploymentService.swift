import AirliftCore
import AirliftMQTT
import Foundation
import Logging

/// Why a deployment request was refused.
public enum DeploymentError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidRequest(String)

  public var description: String {
    switch self {
    case .invalidRequest(let reason): return reason
    }
  }
}

/// Creates deployments and tells devices about them: a retained message on
/// each device's `deployment` topic (the fast path), backed by the store,
/// which devices also ask over HTTPS (the truth).
public final class DeploymentService: Sendable {
  private let store: ControllerStore
  private let mqtt: MQTTClient
  private let baseURL: String
  private let logger: Logger

  init(store: ControllerStore, mqtt: MQTTClient, baseURL: String, logger: Logger) {
    self.store = store
    self.mqtt = mqtt
    self.baseURL = baseURL
    self.logger = logger
  }

  public func create(_ request: API.CreateDeployment) async throws -> API.Deployment {
    do {
      try Names.validatePackage(request.package)
      _ = try SemanticVersion(request.version)
      for name in request.parameters.keys { try Names.validateParameter(name) }
    } catch {
      throw DeploymentError.invalidRequest("\(error)")
    }
    let ref = ReleaseRef(package: request.package, version: request.version)
    guard try store.release(ref) != nil else { throw StoreError.releaseNotFound(ref) }
    var targets: [DeviceID]
    do {
      targets = try (request.target.devices ?? []).map { try DeviceID($0) }
    } catch {
      throw DeploymentError.invalidRequest("\(error)")
    }
    if request.target.allDevices {
      targets += try store.devices().compactMap { try? DeviceID($0.id) }
    }
    targets = Array(Set(targets)).sorted()
    guard !targets.isEmpty || request.target.allDevices else { throw StoreError.noTargetDevices }
    let id = "dep-" + UUID().uuidString.lowercased().prefix(8)
    let deployment = try store.createDeployment(
      id: String(id), name: request.name, release: ref, targets: targets,
      allDevices: request.target.allDevices, parameters: request.parameters)
    logger.info("deployment created", metadata: ["id": .string(deployment.id), "devices": "\(targets.count)"])
    for device in targets { notify(device) }
    return deployment
  }

  /// The notice a device should act on now, or nil when it has none.
  public func notice(for device: DeviceID) throws -> DeploymentNotice? {
    guard let desired = try store.desiredDeployment(for: device) else { return nil }
    return DeploymentNotice(
      deployment: desired.deploymentID,
      release: ReleaseRef(package: desired.release.package, version: desired.release.version),
      handler: desired.release.handler,
      artifacts: desired.release.assets.map {
        ArtifactRef(name: $0.name, url: "\(baseURL)/artifacts/\($0.sha256)", size: $0.size, sha256: $0.sha256)
      },
      parameters: desired.parameters)
  }

  /// A device checked in: add it to active all-devices deployments it missed.
  func deviceCheckedIn(_ device: DeviceID) async {
    do {
      if !(try store.joinActiveDeployments(device)).isEmpty { notify(device) }
    } catch {
      logger.error("could not add \(device) to active deployments: \(error)")
    }
  }

  /// Publishes the device's desired deployment as a retained message. Runs
  /// in the background: a broker that is down delays it, the device still
  /// finds its deployment over HTTPS.
  private func notify(_ device: DeviceID) {
    let notice: DeploymentNotice?
    do {
      notice = try self.notice(for: device)
    } catch {
      logger.error("could not build the deployment notice for \(device): \(error)")
      return
    }
    guard let notice else { return }
    let topic = Topics.device(device, .deployment)
    let payload = Wire.encode(notice)
    Task { [mqtt, logger] in
      do {
        try await mqtt.publish(topic, payload: payload, qos: 1, retain: true)
      } catch {
        logger.warning("could not publish the deployment to \(device): \(error); it will fetch it over HTTPS")
      }
    }
  }
}
