import AirliftCore
import Foundation

/// Telling devices about deployments: a retained notice on each device's
/// `deployment` topic, built from what the store says it should run.
extension DeploymentService {
  /// The notice a device should act on now, or nil when it has none.
  public func notice(for device: DeviceID) async throws -> DeploymentNotice? {
    try await store.desiredDeployment(for: device).map(notice)
  }

  private func notice(_ desired: DesiredDeployment) -> DeploymentNotice {
    DeploymentNotice(
      deployment: desired.deploymentID,
      release: ReleaseRef(package: desired.release.package, version: desired.release.version),
      handler: desired.release.handler,
      artifacts: desired.release.assets.map {
        ArtifactRef(
          name: $0.name, url: "\(baseURL)/artifacts/\($0.sha256)", size: $0.size, sha256: $0.sha256,
          indexURL: $0.index.map { "\(baseURL)/artifacts/\($0.sha256)" },
          packURL: $0.pack.map { "\(baseURL)/artifacts/\($0.sha256)" })
      },
      parameters: desired.parameters, timeouts: desired.timeouts, round: desired.round > 1 ? desired.round : nil,
      manifest: desired.manifest, downgrade: desired.downgrade ? true : nil, steps: desired.steps)
  }

  func notifyAll(_ deployment: API.Deployment) async {
    await notify(Self.startedAndPending(deployment))
  }

  /// The devices of a deployment that it started and that have not answered yet.
  private static func startedAndPending(_ deployment: API.Deployment) -> [DeviceID] {
    deployment.devices.filter { $0.state == .pending && $0.started }.compactMap { try? DeviceID($0.device) }
  }

  /// Publishes each device's desired deployment as a retained message (or
  /// clears it): one read for all, each distinct notice encoded once. Runs
  /// in the background: a broker that is down delays it, the devices still
  /// find their deployment over HTTPS.
  func notify(_ devices: [DeviceID]) async {
    let desired: [DeviceID: DesiredDeployment]
    do {
      desired = try await store.desiredDeployments(for: devices)
    } catch {
      logger.error("could not build the deployment notices for \(devices.count) devices: \(error)")
      return
    }
    var encoded: [String: [UInt8]] = [:]
    var messages: [(DeviceID, [UInt8])] = []
    for device in devices {
      guard let wanted = desired[device] else {
        await withdraw(device)
        continue
      }
      let key = "\(wanted.deploymentID)#\(wanted.round)"
      if encoded[key] == nil { encoded[key] = Wire.encode(notice(wanted)) }
      messages.append((device, encoded[key] ?? []))
    }
    publish(messages)
  }

  /// A deployment just created is the newest of each of its devices, so one
  /// notice (its first round) serves them all: no read per device.
  func notifyNew(_ deployment: API.Deployment) async {
    let devices = Self.startedAndPending(deployment)
    guard let first = devices.first,
      let desired = try? await store.desiredDeployment(for: first), desired.deploymentID == deployment.id,
      desired.round == 1
    else { return await notify(devices) }
    let payload = Wire.encode(notice(desired))
    publish(devices.map { ($0, payload) })
  }

  /// Publishes retained notices with a bounded number in flight.
  private func publish(_ messages: [(DeviceID, [UInt8])]) {
    guard !messages.isEmpty else { return }
    let started = ContinuousClock.now
    Task { [mqtt, logger] in
      defer {
        if messages.count > 1 {
          logger.info(
            "published \(messages.count) deployment notices",
            metadata: ["seconds": "\(Self.seconds(since: started))"])
        }
      }
      await withTaskGroup(of: Void.self) { group in
        for (index, (device, payload)) in messages.enumerated() {
          // A bounded window: Paho refuses publishes beyond its buffer, and the broker takes 1,000 at a time.
          if index >= Self.publishWindow { await group.next() }
          group.addTask {
            do {
              try await mqtt.publish(Topics.device(device, .deployment), payload: payload, qos: 1, retain: true)
            } catch {
              logger.warning(
                "could not publish the deployment to \(device): \(error); it will fetch it over HTTPS",
                metadata: ["device": .string(device.rawValue)])
            }
          }
        }
      }
    }
  }

  static func seconds(since start: ContinuousClock.Instant) -> Double {
    Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
  }

  /// Deployment notices in flight at most during a fan-out.
  static let publishWindow = 500

  func notify(_ device: DeviceID) async { await notify([device]) }

  /// Clears the device's retained notice (a zero-length retained message).
  func withdraw(_ device: DeviceID) async {
    if let notice = try? await self.notice(for: device) {
      // An older deployment it already started stays its desired one.
      return publish([(device, Wire.encode(notice))])
    }
    publish([(device, [])])
  }
}
