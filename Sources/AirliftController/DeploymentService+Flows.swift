import AirliftCore
import Foundation

/// Update flows: stored once, run for every release with that run's values.
extension DeploymentService {
  /// Stores a flow (or its next version) once its definition holds together.
  public func createFlow(_ definition: API.CreateFlow, by creator: String?) async throws -> API.Flow {
    try definition.validate()
    try definition.rollout?.validate()
    if let group = definition.target.group { _ = try await store.group(group) }
    let flow = try await store.createFlow(definition, by: creator)
    logger.info("flow stored", metadata: ["flow": .string(flow.ref.description)])
    return flow
  }

  /// Runs a flow for a release: the values are checked against the flow's
  /// declarations and the release's handler against the flow's before
  /// anything is created; the deployment records the flow version and values.
  public func launch(flow name: String, _ request: API.LaunchFlow, by creator: String?) async throws -> API.Deployment {
    guard let flow = try await store.flow(name, version: request.flowVersion) else {
      throw StoreError.flowNotFound(name, version: request.flowVersion)
    }
    let values = try flow.resolve(request.parameters)
    let version: String
    switch (request.version, request.tag) {
    case (let given?, nil): version = given
    case (nil, let tag?): version = try await store.resolveTag(package: request.package, name: tag)
    default: throw DeploymentError.invalidRequest("give the release as a version or as a tag, not both or neither")
    }
    let ref = ReleaseRef(package: request.package, version: version)
    guard let release = try await store.release(ref) else { throw StoreError.releaseNotFound(ref) }
    guard release.handler == flow.definition.handler else {
      throw FlowError.handlerMismatch(
        flow: flow.ref, handler: flow.definition.handler, release: ref, releaseHandler: release.handler)
    }
    // The run may name its own target (the test group now, production later); the flow's is the default.
    if let reason = request.target?.problem {
      throw DeploymentError.invalidRequest("the run's target: \(reason)")
    }
    let target = request.target ?? flow.definition.target
    if let group = target.group { _ = try await store.group(group) }
    var devices = target.devices
    if let text = target.expression {
      var filter = DeviceFilter()
      filter.expression = try PolicyExpression(text)
      devices = try await store.devices(filter).map(\.id)
      guard devices?.isEmpty == false else { throw StoreError.noTargetDevices }
    }
    let (rollout, retries) = flow.runPolicy
    var create = API.CreateDeployment(
      package: request.package, version: request.tag == nil ? version : nil, tag: request.tag,
      target: API.Target(
        devices: devices, group: target.group, allDevices: target.allDevices, channel: target.channel),
      parameters: values, name: request.name ?? "\(flow.ref) \(ref)", deviceTimeout: flow.definition.deviceTimeout,
      startAt: request.startAt, rollout: rollout)
    create.retries = retries
    create.downloadTimeout = flow.definition.downloadTimeout
    create.installTimeout = flow.definition.installTimeout
    create.steps = flow.definition.steps
    return try await self.create(create, by: creator, flow: flow.ref)
  }
}
