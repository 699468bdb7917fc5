import AirliftCore
import AirliftMQTT
import Foundation
import Logging
import ServiceLifecycle

/// Why a deployment request was refused.
public enum DeploymentError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidRequest(String)

  public var description: String {
    switch self {
    case .invalidRequest(let reason): return reason
    }
  }
}

/// Creates and steers deployments and tells devices about them: a retained
/// message on each device's `deployment` topic (the fast path), backed by
/// the store, which devices also ask over HTTPS (the truth).
public final class DeploymentService: Sendable {
  let store: ControllerStore
  let mqtt: MQTTClient
  let baseURL: String
  let logger: Logger
  /// When a device that has not answered its notice gets it again.
  let redelivery: Redelivery

  init(
    store: ControllerStore, mqtt: MQTTClient, baseURL: String, redelivery: Redelivery = Redelivery(), logger: Logger
  ) {
    self.redelivery = redelivery
    self.store = store
    self.mqtt = mqtt
    self.baseURL = baseURL
    self.logger = logger
  }

  public func create(
    _ request: API.CreateDeployment, by creator: String? = nil, flow: API.FlowRef? = nil, now: Date = Date()
  ) async throws -> API.Deployment {
    try request.validate(now: now)
    let version: String
    switch (request.version, request.tag) {
    case (let given?, nil):
      do {
        version = try SemanticVersion(given).description
      } catch {
        throw DeploymentError.invalidRequest("\(error)")
      }
    case (nil, let tag?):
      version = try await store.resolveTag(package: request.package, name: tag)
    default:
      throw DeploymentError.invalidRequest("give the release as a version or as a tag, not both or neither")
    }
    if let earlier = request.canariesFrom {
      guard let deployment = try await store.deployment(id: earlier) else {
        throw StoreError.deploymentNotFound(earlier)
      }
      guard deployment.rollout != nil else {
        throw DeploymentError.invalidRequest("deployment \(earlier) had no phases, so it had no canaries to reuse")
      }
    }
    let ref = ReleaseRef(package: request.package, version: version)
    guard let release = try await store.release(ref) else { throw StoreError.releaseNotFound(ref) }
    // Devices refuse an unsigned or expired release; say so now rather than through every device's failure.
    guard let signature = release.signature else { throw StoreError.releaseUnsigned(ref) }
    if let expiry = try? Date(signature.expires, strategy: .iso8601), expiry <= now {
      throw StoreError.releaseExpired(ref, expires: signature.expires)
    }
    let parameters = release.parameters.merging(request.parameters) { _, given in given }
    let steps = try Self.steps(of: request, release: release, parameters: parameters)
    // Devices refuse a downgrade the signature does not allow: say so before any device tries.
    if request.downgrade == true && !signature.downgrade { throw StoreError.downgradeNotSigned(ref) }
    var deviceTimeout = request.deviceTimeout
    if let listed = request.target.devices {
      let unknown = try await store.unknownDevices(listed)
      if !unknown.isEmpty {
        // A typo must not make a deployment that waits forever; devices still being made are asked for.
        guard request.allowUnknownDevices == true else { throw StoreError.unknownDevices(unknown) }
        deviceTimeout = deviceTimeout ?? Limits.unknownDeviceTimeout
      }
    }
    let id = "dep-" + UUID().uuidString.lowercased().prefix(8)
    let creating = ContinuousClock.now
    let deployment = try await store.createDeployment(
      NewDeployment(
        id: String(id), name: request.name, release: ref, tag: request.tag, target: request.target,
        parameters: parameters, maxDevices: request.maxDevices, deviceTimeout: deviceTimeout, startAt: request.startAt,
        supersede: request.supersede, rollout: request.rollout, needsApproval: request.needsApproval,
        createdBy: creator, downloadTimeout: request.downloadTimeout, installTimeout: request.installTimeout,
        canariesFrom: request.canariesFrom, retries: request.retries ?? 0, downgrade: request.downgrade ?? false,
        flow: flow, steps: steps),
      now: now)
    logger.info(
      "deployment created",
      metadata: [
        "deployment": .string(deployment.id), "release": .string(ref.description),
        "devices": "\(deployment.devices.count)",
        "status": .string(deployment.status.rawValue), "seconds": "\(Self.seconds(since: creating))",
      ])
    if deployment.status == .active { await notifyNew(deployment) }
    if request.rollout != nil { await tick(now: now) }
    return try await store.deployment(id: deployment.id) ?? deployment
  }

  /// The steps a deployment's devices run, `${NAME}` filled from its parameters and checked: only a release
  /// of the `steps` handler has them, and each names one of its assets.
  static func steps(of request: API.CreateDeployment, release: API.Release, parameters: [String: String]) throws
    -> [FlowStep]?
  {
    let ref = ReleaseRef(package: release.package, version: release.version)
    guard release.handler == HandlerName.steps else {
      guard request.steps == nil else {
        throw DeploymentError.invalidRequest(
          "steps are for a release of the steps handler; \(ref) installs with '\(release.handler)'")
      }
      return nil
    }
    guard let given = request.steps else {
      throw DeploymentError.invalidRequest(
        "\(ref) is a release of the steps handler: give its steps (a flow with steps, or steps in the request)")
    }
    let steps: [FlowStep]
    do {
      steps = try given.map { (step) throws(FlowStepError) in try step.resolved(parameters) }
      try steps.validateSteps(declared: nil, resolved: true)
    } catch {
      throw DeploymentError.invalidRequest("\(error)")
    }
    if steps.contains(where: { $0.action == .compose }), release.apps?.isEmpty != false {
      throw DeploymentError.invalidRequest(
        "a compose step updates the release's Compose apps, and \(ref) lists none (release create --app NAME@VERSION=FILE)"
      )
    }
    let assets = Set(release.assets.map(\.name))
    if let missing = steps.first(where: { $0.asset.map { !assets.contains($0) } ?? false }) {
      throw DeploymentError.invalidRequest(
        "step '\(missing.label)' names asset '\(missing.asset ?? "")', which \(ref) does not have (it has "
          + assets.sorted().joined(separator: ", ") + ")")
    }
    return steps
  }

  /// For aborted rollouts that asked for it, once they settled: deploy to the
  /// devices that had updated the version each ran before, linked to the abort.
  private func startRollbacks(now: Date) async throws {
    for (id, package, devices) in try await store.settledRollbacks() {
      var created: [String] = []
      for (version, targets) in devices.sorted(by: { $0.key < $1.key }) {
        let ref = ReleaseRef(package: package, version: version)
        guard let release = try await store.release(ref) else {
          logger.warning(
            "cannot roll \(targets.count) device(s) back to \(ref): no such release",
            metadata: ["deployment": .string(id)])
          continue
        }
        let rollbackID = "dep-" + UUID().uuidString.lowercased().prefix(8)
        let deployment = try await store.createDeployment(
          NewDeployment(
            id: String(rollbackID), name: "rollback of \(id)", release: ref, tag: nil,
            target: API.Target(devices: targets.sorted()), parameters: release.parameters, maxDevices: nil,
            deviceTimeout: nil,
            startAt: nil, supersede: false, createdBy: "airlift-controller", linkedTo: id, downgrade: true), now: now)
        await notifyAll(deployment)
        created.append(deployment.id)
        logger.warning(
          "rolling \(targets.count) device(s) back to \(ref)", metadata: ["deployment": .string(deployment.id)])
      }
      try await store.markRolledBack(id, by: created)
    }
  }

  /// A second operator approves; it starts now unless its start time is later or the fleet is frozen.
  public func approve(_ id: String, by approver: String) async throws -> API.Deployment {
    _ = try await store.approve(id, by: approver)
    await tick()
    return try await store.deployment(id: id)!
  }

  /// The emergency stop for the whole fleet.
  public func freeze(reason: String) async throws -> API.FleetState {
    let (state, pending) = try await store.freeze(reason: reason)
    for device in pending { await withdraw(device) }
    logger.warning("fleet frozen: \(reason)")
    return state
  }

  public func thaw() async throws -> API.FleetState {
    for id in try await store.thaw() {
      if let deployment = try await store.deployment(id: id) { await notifyAll(deployment) }
    }
    await tick()
    logger.notice("fleet thawed")
    return try await store.fleetState()
  }

  /// A tag moved: the devices that follow `package:tag` get the new version,
  /// with the channel's rollout plan. An earlier channel deployment stops
  /// (devices in progress finish) and its waiting devices move over.
  public func channelMoved(package: String, tag: String, to version: String) async throws -> API.Deployment? {
    let name = "\(package):\(tag)"
    guard let channel = try await store.channel(package: package, tag: tag) else { return nil }
    for id in try await store.channelDeployments(name) {
      _ = try? await abort(id, reason: "channel \(name) moved to \(version)")
    }
    let request = API.CreateDeployment(
      package: package, version: version, target: API.Target(channel: name), name: "channel \(name) → \(version)",
      supersede: true, rollout: channel.rollout)
    let deployment = try await create(request, by: "airlift-controller")
    logger.info(
      "channel moved",
      metadata: ["channel": .string(name), "version": .string(version), "deployment": .string(deployment.id)])
    return deployment
  }

  /// Sets (nil: removes) a release's distribution policy. Devices that run
  /// an older version, match it and have nothing else to do are offered the
  /// newest matching release — now, and at each later check-in.
  public func setPolicy(_ ref: ReleaseRef, policy: PolicyExpression?, by creator: String?) async throws -> API.Release {
    let release = try await store.setReleasePolicy(ref, policy: policy)
    let existing = try await store.policyDeployment(ref)
    guard policy != nil else {
      if let existing { _ = try await abort(existing, reason: "the release's distribution policy was removed") }
      return release
    }
    if existing == nil {
      let id = "dep-" + UUID().uuidString.lowercased().prefix(8)
      _ = try await store.createDeployment(
        NewDeployment(
          id: String(id), name: "policy \(ref)", release: ref, tag: nil, target: API.Target(releasePolicy: true),
          parameters: release.parameters, maxDevices: nil, deviceTimeout: nil, startAt: nil, supersede: false,
          createdBy: creator))
    }
    for device in try await store.idleDevices(running: ref.package) { await deviceMayJoin(device) }
    return release
  }

  /// Lets a phased deployment go on to its next phase now.
  public func promote(_ id: String) async throws -> API.Deployment {
    _ = try await store.promote(id)
    await tick()
    return try await store.deployment(id: id)!
  }

  /// Asks a device to switch `package` back to the version it ran before
  /// (no download); the device answers on its `command-result` topic and
  /// reports the deployment that installed the current version `RolledBack`.
  public func rollBack(_ device: DeviceID, _ request: API.RollbackRequest) async throws -> API.DeviceCommand {
    try Names.validatePackage(request.package)
    let command = try await store.createRollbackCommand(
      device: device, package: request.package, reason: request.reason)
    let message = DeviceCommand(id: command.id, action: .rollback, package: request.package, reason: request.reason)
    // QoS 1 to the device's persistent session: an offline device gets it when it reconnects.
    try await mqtt.publish(Topics.device(device, .command), payload: Wire.encode(message), qos: 1)
    logger.info("rollback of \(request.package) sent to \(device)", metadata: ["command": .string(command.id)])
    return command
  }

  public func pause(_ id: String, reason: String?) async throws -> API.Deployment {
    let (deployment, pending) = try await store.changeStatus(id, to: .paused, reason: reason)
    for device in pending { await withdraw(device) }
    return deployment
  }

  public func resume(_ id: String) async throws -> API.Deployment {
    let (deployment, pending) = try await store.changeStatus(id, to: .active)
    await notify(pending)
    return deployment
  }

  /// Devices that had not started never will; devices in progress finish.
  public func abort(_ id: String, reason: String?) async throws -> API.Deployment {
    let (deployment, pending) = try await store.changeStatus(
      id, to: .aborted, reason: reason ?? "aborted by an operator")
    for device in pending { await withdraw(device) }
    return deployment
  }

  /// A device checked in, or joined a group: add it to open deployments it missed.
  func deviceMayJoin(_ device: DeviceID) async {
    do {
      if await !(try store.joinOpenDeployments(device)).isEmpty { await notify(device) }
    } catch {
      logger.error("could not add \(device) to active deployments: \(error)")
    }
  }

  /// Starts due scheduled deployments, fails devices past their timeout,
  /// and moves phased rollouts on. Controllers sharing a database take
  /// turns (the "scheduler" claim); each step is one transaction, so one
  /// that finds the work done by another controller does nothing.
  func tick(now: Date = Date()) async {
    do {
      try await store.exclusively("scheduler") { try await self.runScheduledWork(now: now) }
    } catch {
      logger.error("deployment scheduler: \(error)")
    }
  }

  private func runScheduledWork(now: Date) async throws {
    for id in try await store.activateDue(now: now) {
      guard let deployment = try await store.deployment(id: id) else { continue }
      logger.info("scheduled deployment started", metadata: ["deployment": .string(id)])
      await notifyAll(deployment)
    }
    for device in try await store.markOverduePollers(now: now) {
      logger.info("polling device missed its check-in; now offline", metadata: ["device": .string(device)])
    }
    let timedOut = try await store.failTimedOutDevices(now: now)
    if timedOut > 0 { logger.warning("\(timedOut) device(s) timed out") }
    let unanswered = try await store.redeliverUnanswered(redelivery, now: now)
    if !unanswered.isEmpty {
      logger.info("\(unanswered.count) device(s) not reached: Retrying; their notices go out again")
      await notify(unanswered.filter(\.publish).map(\.device))
    }
    for outcome in try await store.stepRollouts(now: now) {
      await notify(outcome.started)
      for device in outcome.withdrawn { await withdraw(device) }
      if let phase = outcome.advancedTo {
        logger.info("rollout phase \(phase + 1) started", metadata: ["deployment": .string(outcome.deployment)])
      }
      if let reason = outcome.aborted {
        logger.warning("deployment aborted: \(reason)", metadata: ["deployment": .string(outcome.deployment)])
      }
    }
    try await startRollbacks(now: now)
    await notify(try store.startWaitingDevices(now: now))
    await notify(try store.retryFailedDevices(now: now))
  }
}

/// Ticks the deployment service: scheduled starts and device timeouts.
struct DeploymentScheduler: Service {
  let deployments: DeploymentService
  let interval: Duration

  func run() async throws {
    try await endingQuietlyOnShutdown {
      try await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
          await deployments.tick()
          try await Task.sleep(for: interval)
        }
      }
    }
  }
}
