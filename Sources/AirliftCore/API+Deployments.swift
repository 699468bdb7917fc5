import Foundation

/// Deployments: targets, rollouts, progress, the fleet switch, channels.
extension API {
  /// Who a deployment is for: listed devices, or every known device (which
  /// includes devices that check in for the first time while it is active).
  public struct Target: Codable, Sendable, Equatable {
    public var devices: [String]?
    public var group: String?
    public var allDevices: Bool
    /// The devices that follow an update channel, `PACKAGE:TAG` (set by the controller when a tag moves).
    public var channel: String?
    /// The devices the release's distribution policy offers it to (set by the controller).
    public var releasePolicy: Bool = false

    public init(
      devices: [String]? = nil, group: String? = nil, allDevices: Bool = false, channel: String? = nil,
      releasePolicy: Bool = false
    ) {
      self.devices = devices
      self.group = group
      self.allDevices = allDevices
      self.channel = channel
      self.releasePolicy = releasePolicy
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      devices = try c.decodeIfPresent([String].self, forKey: .devices)
      group = try c.decodeIfPresent(String.self, forKey: .group)
      allDevices = try c.decodeIfPresent(Bool.self, forKey: .allDevices) ?? false
      channel = try c.decodeIfPresent(String.self, forKey: .channel)
      releasePolicy = try c.decodeIfPresent(Bool.self, forKey: .releasePolicy) ?? false
    }

    /// A group, channel, policy or all-devices target also takes devices that join later.
    public var isOpen: Bool { allDevices || group != nil || channel != nil || releasePolicy }
  }

  /// `POST /api/v1/deployments`: a release (a version, or a tag resolved
  /// now and recorded), a target, parameters and limits.
  public struct CreateDeployment: Codable, Sendable, Equatable {
    public var package: String
    public var version: String?
    public var tag: String?
    public var target: Target
    public var parameters: [String: String]
    public var name: String?
    /// At most this many devices get the release; the deployment completes there.
    public var maxDevices: Int?
    /// Seconds a device may take once it started, before it counts as failed.
    public var deviceTimeout: Int?
    /// A start time in the future makes the deployment `Scheduled` until then.
    public var startAt: Date?
    /// Move devices waiting in another deployment into this one instead of refusing.
    public var supersede: Bool
    /// Phases, thresholds, rate and failure policy; nil starts every device at once.
    public var rollout: RolloutPlan?
    /// Wait in `Scheduled` until a second operator approves it.
    public var needsApproval: Bool
    /// Seconds the device may spend downloading, and installing (stage timeouts; 600 each by default).
    public var downloadTimeout: Int?
    public var installTimeout: Int?
    /// Start with the devices that were the first phase (the canaries) of this earlier deployment.
    public var canariesFrom: String?
    /// How many times a device that failed gets the whole update again.
    public var retries: Int?
    /// Install even over a newer version (the release must be signed with --allow-downgrade too).
    public var downgrade: Bool?
    /// Accept listed devices that have never checked in (devices still being made); without a device timeout,
    /// theirs is `Limits.unknownDeviceTimeout`, so the deployment cannot wait for them forever.
    public var allowUnknownDevices: Bool?
    /// A multi-step update's steps (a release of the `steps` handler), `${NAME}` filled from `parameters`.
    public var steps: [FlowStep]?

    public init(
      package: String, version: String? = nil, tag: String? = nil, target: Target,
      parameters: [String: String] = [:], name: String? = nil, maxDevices: Int? = nil, deviceTimeout: Int? = nil,
      startAt: Date? = nil, supersede: Bool = false, rollout: RolloutPlan? = nil, needsApproval: Bool = false,
      allowUnknownDevices: Bool? = nil
    ) {
      self.allowUnknownDevices = allowUnknownDevices
      self.rollout = rollout
      self.needsApproval = needsApproval
      self.package = package
      self.version = version
      self.tag = tag
      self.target = target
      self.parameters = parameters
      self.name = name
      self.maxDevices = maxDevices
      self.deviceTimeout = deviceTimeout
      self.startAt = startAt
      self.supersede = supersede
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      package = try c.decode(String.self, forKey: .package)
      version = try c.decodeIfPresent(String.self, forKey: .version)
      tag = try c.decodeIfPresent(String.self, forKey: .tag)
      target = try c.decode(Target.self, forKey: .target)
      parameters = try c.decodeIfPresent([String: String].self, forKey: .parameters) ?? [:]
      name = try c.decodeIfPresent(String.self, forKey: .name)
      maxDevices = try c.decodeIfPresent(Int.self, forKey: .maxDevices)
      deviceTimeout = try c.decodeIfPresent(Int.self, forKey: .deviceTimeout)
      startAt = try c.decodeIfPresent(Date.self, forKey: .startAt)
      supersede = try c.decodeIfPresent(Bool.self, forKey: .supersede) ?? false
      rollout = try c.decodeIfPresent(RolloutPlan.self, forKey: .rollout)
      needsApproval = try c.decodeIfPresent(Bool.self, forKey: .needsApproval) ?? false
      downloadTimeout = try c.decodeIfPresent(Int.self, forKey: .downloadTimeout)
      installTimeout = try c.decodeIfPresent(Int.self, forKey: .installTimeout)
      canariesFrom = try c.decodeIfPresent(String.self, forKey: .canariesFrom)
      retries = try c.decodeIfPresent(Int.self, forKey: .retries)
      downgrade = try c.decodeIfPresent(Bool.self, forKey: .downgrade)
      allowUnknownDevices = try c.decodeIfPresent(Bool.self, forKey: .allowUnknownDevices)
      steps = try c.decodeIfPresent([FlowStep].self, forKey: .steps)
    }
  }

  /// Where a phased rollout stands.
  public struct RolloutState: Codable, Sendable, Equatable {
    public var plan: RolloutPlan
    /// The phase now running, 1-based.
    public var phase: Int
    /// Why it is not moving on, when it is not (waiting for promotion, soaking, below the threshold).
    public var note: String?

    public init(plan: RolloutPlan, phase: Int, note: String?) {
      self.plan = plan
      self.phase = phase
      self.note = note
    }
  }

  public struct DeviceProgress: Codable, Sendable, Equatable {
    public var device: String
    public var state: DeviceState
    public var percent: Int?
    public var error: String?
    public var attempts: Int
    public var updatedAt: Date
    /// False while the device waits for its phase of a rollout.
    public var started: Bool
    /// The version of the package it ran when it was started.
    public var fromVersion: String?
    /// Which try of the whole update it is on (1: the first).
    public var round: Int = 1
    /// What its download cost this round (bytes fetched and reused of the total), once it reported it.
    public var transfer: TransferBytes?
    /// While the controller cannot reach the device (`Retrying` before it answered its notice): when the notice
    /// goes out again.
    public var nextAttempt: Date?

    public init(
      device: String, state: DeviceState, percent: Int?, error: String?, attempts: Int = 0, updatedAt: Date,
      started: Bool = true, fromVersion: String? = nil, round: Int = 1, transfer: TransferBytes? = nil,
      nextAttempt: Date? = nil
    ) {
      self.nextAttempt = nextAttempt
      self.round = round
      self.transfer = transfer
      self.started = started
      self.fromVersion = fromVersion
      self.device = device
      self.state = state
      self.percent = percent
      self.error = error
      self.attempts = attempts
      self.updatedAt = updatedAt
    }
  }

  public struct Deployment: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var release: ReleaseRef
    /// The tag the release was chosen by, if any (resolved at creation).
    public var tag: String?
    public var status: DeploymentStatus
    public var target: Target
    public var parameters: [String: String]
    public var maxDevices: Int?
    public var deviceTimeout: Int?
    public var startAt: Date?
    /// Why it was aborted or paused, when it was.
    public var reason: String?
    public var createdAt: Date
    public var devices: [DeviceProgress]
    public var rollout: RolloutState?
    /// The operator who created it, and (when it needed approval) who approved it.
    public var createdBy: String?
    public var needsApproval: Bool = false
    public var approvedBy: String?
    public var downloadTimeout: Int?
    public var installTimeout: Int?
    /// A rollback deployment names the aborted one it undoes; the aborted one names its rollbacks.
    public var linkedTo: String?
    public var rolledBackBy: [String] = []
    /// Tries of the whole update a failed device gets after the first.
    public var retries: Int = 0
    /// Whether it may replace a newer version on a device (a signed downgrade).
    public var downgrade: Bool = false
    /// The flow version it runs, when a flow launched it (its parameter values are `parameters`).
    public var flow: FlowRef?
    /// A multi-step update's steps, as the devices run them.
    public var steps: [FlowStep]?
    /// When its step-by-step status reports were dropped (statusRetention); the devices' final states stay.
    public var eventsPrunedAt: Date?

    public init(
      id: String, name: String?, release: ReleaseRef, tag: String? = nil, status: DeploymentStatus,
      target: Target, parameters: [String: String], maxDevices: Int? = nil, deviceTimeout: Int? = nil,
      startAt: Date? = nil, reason: String? = nil, createdAt: Date, devices: [DeviceProgress],
      rollout: RolloutState? = nil
    ) {
      self.rollout = rollout
      self.id = id
      self.name = name
      self.release = release
      self.tag = tag
      self.status = status
      self.target = target
      self.parameters = parameters
      self.maxDevices = maxDevices
      self.deviceTimeout = deviceTimeout
      self.startAt = startAt
      self.reason = reason
      self.createdAt = createdAt
      self.devices = devices
    }

    /// Devices per state, for summaries.
    public var counts: [DeviceState: Int] {
      devices.reduce(into: [:]) { $0[$1.state, default: 0] += 1 }
    }

    /// Whether no device will move any more.
    public var isFinished: Bool {
      status == .completed || (status == .aborted && devices.allSatisfy { $0.state.isTerminal || $0.state == .pending })
    }
  }

  /// The error body every failing API call returns.
  /// `GET /api/v1/fleet`: whether an emergency stop holds every deployment.
  public struct FleetState: Codable, Sendable, Equatable {
    public var frozen: Bool
    public var reason: String?
    public var since: Date?

    public init(frozen: Bool, reason: String? = nil, since: Date? = nil) {
      self.frozen = frozen
      self.reason = reason
      self.since = since
    }
  }

  /// An update channel: devices that follow `package:tag` get each version the tag moves to,
  /// with the channel's rollout plan.
  public struct Channel: Codable, Sendable, Equatable {
    public var package: String
    public var tag: String
    public var rollout: RolloutPlan?
    /// Devices that follow it now.
    public var followers: [String]

    public init(package: String, tag: String, rollout: RolloutPlan?, followers: [String] = []) {
      self.package = package
      self.tag = tag
      self.rollout = rollout
      self.followers = followers
    }
  }
}
