import Foundation

/// Update flows: a deployment defined once (handler, declared parameters,
/// target, rollout, failure policy) and run for every release with the
/// values of that run.
extension API {
  /// A parameter a flow declares: a run must give it when it is required and has no default.
  public struct FlowParameter: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var defaultValue: String?
    public var required: Bool

    public init(name: String, description: String? = nil, defaultValue: String? = nil, required: Bool = false) {
      self.name = name
      self.description = description
      self.defaultValue = defaultValue
      self.required = required
    }

    enum CodingKeys: String, CodingKey {
      case name, description, required
      case defaultValue = "default"
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      name = try c.decode(String.self, forKey: .name)
      description = try c.decodeIfPresent(String.self, forKey: .description)
      defaultValue = try c.decodeIfPresent(String.self, forKey: .defaultValue)
      required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? false
    }
  }

  /// Who a flow's runs are for: exactly one of devices, a group, a policy
  /// expression (the devices that match when it runs), a channel
  /// (`PACKAGE:TAG`, its followers) or every device.
  public struct FlowTarget: Codable, Sendable, Equatable {
    public var devices: [String]?
    public var group: String?
    public var expression: String?
    public var channel: String?
    public var allDevices: Bool

    public init(
      devices: [String]? = nil, group: String? = nil, expression: String? = nil, channel: String? = nil,
      allDevices: Bool = false
    ) {
      self.devices = devices
      self.group = group
      self.expression = expression
      self.channel = channel
      self.allDevices = allDevices
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      devices = try c.decodeIfPresent([String].self, forKey: .devices)
      group = try c.decodeIfPresent(String.self, forKey: .group)
      expression = try c.decodeIfPresent(String.self, forKey: .expression)
      channel = try c.decodeIfPresent(String.self, forKey: .channel)
      allDevices = try c.decodeIfPresent(Bool.self, forKey: .allDevices) ?? false
    }

    /// How many of the kinds it names (a valid target names one).
    var kinds: Int {
      [devices != nil, group != nil, expression != nil, channel != nil, allDevices].filter { $0 }.count
    }

    public var description: String {
      if let devices { return "devices \(devices.joined(separator: ","))" }
      if let group { return "group \(group)" }
      if let expression { return "devices where \(expression)" }
      if let channel { return "followers of \(channel)" }
      return "all devices"
    }
  }

  /// What a flow does when devices fail.
  public enum FailureAction: String, Codable, Sendable, CaseIterable {
    /// Abort the deployment once more devices failed than allowed (default: the first failure).
    case stop
    /// Give each failed device the whole update again (`retries` times, default 2).
    case retry
    /// Abort as `stop` does, then deploy each updated device's previous version back.
    case rollBack = "roll-back"
  }

  public struct FlowFailure: Codable, Sendable, Equatable {
    public var action: FailureAction
    /// For `retry`: tries after the first (1-10).
    public var retries: Int?
    /// For `stop` and `roll-back`: failures allowed before the abort (default 0), or a percent of those that ended.
    public var maxFailures: Int?
    public var maxFailurePercent: Double?

    public init(action: FailureAction, retries: Int? = nil, maxFailures: Int? = nil, maxFailurePercent: Double? = nil) {
      self.action = action
      self.retries = retries
      self.maxFailures = maxFailures
      self.maxFailurePercent = maxFailurePercent
    }
  }

  /// `POST /api/v1/flows`: a flow, or a new version of one with the same name.
  public struct CreateFlow: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The install handler the flow's releases must use (`script`, `directory`, `ab-slot`, `compose`).
    public var handler: String
    public var parameters: [FlowParameter]
    public var target: FlowTarget
    public var rollout: RolloutPlan?
    public var onFailure: FlowFailure?
    public var deviceTimeout: Int?
    public var downloadTimeout: Int?
    public var installTimeout: Int?
    /// The action blocks a device runs in order (handler `steps`); `${NAME}` in their fields takes a
    /// parameter's value.
    public var steps: [FlowStep]?

    public init(
      name: String, description: String? = nil, handler: String, parameters: [FlowParameter] = [],
      target: FlowTarget, rollout: RolloutPlan? = nil, onFailure: FlowFailure? = nil
    ) {
      self.name = name
      self.description = description
      self.handler = handler
      self.parameters = parameters
      self.target = target
      self.rollout = rollout
      self.onFailure = onFailure
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      name = try c.decode(String.self, forKey: .name)
      description = try c.decodeIfPresent(String.self, forKey: .description)
      handler = try c.decode(String.self, forKey: .handler)
      parameters = try c.decodeIfPresent([FlowParameter].self, forKey: .parameters) ?? []
      target = try c.decode(FlowTarget.self, forKey: .target)
      rollout = try c.decodeIfPresent(RolloutPlan.self, forKey: .rollout)
      onFailure = try c.decodeIfPresent(FlowFailure.self, forKey: .onFailure)
      deviceTimeout = try c.decodeIfPresent(Int.self, forKey: .deviceTimeout)
      downloadTimeout = try c.decodeIfPresent(Int.self, forKey: .downloadTimeout)
      installTimeout = try c.decodeIfPresent(Int.self, forKey: .installTimeout)
      steps = try c.decodeIfPresent([FlowStep].self, forKey: .steps)
    }
  }

  /// One version of a flow as stored.
  public struct Flow: Codable, Sendable, Equatable {
    public var version: Int
    public var definition: CreateFlow
    public var createdAt: Date
    public var createdBy: String?

    public init(version: Int, definition: CreateFlow, createdAt: Date, createdBy: String? = nil) {
      self.version = version
      self.definition = definition
      self.createdAt = createdAt
      self.createdBy = createdBy
    }

    public var name: String { definition.name }
    public var ref: FlowRef { FlowRef(name: definition.name, version: version) }
  }

  /// A flow version, as a deployment records it.
  public struct FlowRef: Codable, Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var version: Int

    public init(name: String, version: Int) {
      self.name = name
      self.version = version
    }

    public var description: String { "\(name) v\(version)" }
  }

  /// `POST /api/v1/flows/{name}/deployments`: run a flow for a release (a
  /// version, or a tag resolved now) with this run's parameter values.
  public struct LaunchFlow: Codable, Sendable, Equatable {
    public var package: String
    public var version: String?
    public var tag: String?
    public var parameters: [String: String]
    /// Run this version of the flow (nil: the newest).
    public var flowVersion: Int?
    public var name: String?
    public var startAt: Date?
    /// Who this run is for, instead of the flow's own target (the same flow on the test group, then on
    /// production).
    public var target: FlowTarget?

    public init(
      package: String, version: String? = nil, tag: String? = nil, parameters: [String: String] = [:],
      flowVersion: Int? = nil, name: String? = nil, startAt: Date? = nil, target: FlowTarget? = nil
    ) {
      self.target = target
      self.package = package
      self.version = version
      self.tag = tag
      self.parameters = parameters
      self.flowVersion = flowVersion
      self.name = name
      self.startAt = startAt
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      package = try c.decode(String.self, forKey: .package)
      version = try c.decodeIfPresent(String.self, forKey: .version)
      tag = try c.decodeIfPresent(String.self, forKey: .tag)
      parameters = try c.decodeIfPresent([String: String].self, forKey: .parameters) ?? [:]
      flowVersion = try c.decodeIfPresent(Int.self, forKey: .flowVersion)
      name = try c.decodeIfPresent(String.self, forKey: .name)
      startAt = try c.decodeIfPresent(Date.self, forKey: .startAt)
      target = try c.decodeIfPresent(FlowTarget.self, forKey: .target)
    }
  }
}
