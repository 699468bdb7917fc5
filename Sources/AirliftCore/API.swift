import Foundation

/// JSON bodies of the controller's REST API (`/api/v1`), shared by the
/// controller and the `airlift` CLI so both sides agree by construction.
public enum API {
  /// The largest JSON request body the controller reads (asset uploads stream, with their own limit).
  public static let maxRequestBody = 2 << 20
  public struct Asset: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var sha256: String

    public init(name: String, size: Int64, sha256: String) {
      self.name = name
      self.size = size
      self.sha256 = sha256
    }
  }

  /// The signature a release carries, as operators see it.
  public struct ReleaseSignature: Codable, Sendable, Equatable {
    /// The signing key's id.
    public var key: String
    /// When devices stop accepting it (UTC).
    public var expires: String
    /// Whether it may replace a newer version (a signed downgrade).
    public var downgrade: Bool
    public var signedAt: Date
    /// The operator who uploaded the signature.
    public var signedBy: String?

    public init(key: String, expires: String, downgrade: Bool, signedAt: Date, signedBy: String?) {
      self.key = key
      self.expires = expires
      self.downgrade = downgrade
      self.signedAt = signedAt
      self.signedBy = signedBy
    }
  }

  /// A version of a package: its manifest (assets, handler, default
  /// parameters) and the tags that point at it.
  public struct Release: Codable, Sendable, Equatable {
    public var package: String
    public var version: String
    public var handler: String
    public var parameters: [String: String]
    public var assets: [Asset]
    public var tags: [String]
    public var createdAt: Date
    /// A distribution policy: devices that run an older version of the package and match it are offered this
    /// release (the newest matching one) when they have nothing else to do.
    public var policy: String?
    /// Who signed the release's manifest with which key, and until when it is valid (nil: unsigned).
    public var signature: ReleaseSignature?

    public init(
      package: String, version: String, handler: String, parameters: [String: String] = [:], assets: [Asset],
      tags: [String] = [], createdAt: Date, policy: String? = nil, signature: ReleaseSignature? = nil
    ) {
      self.policy = policy
      self.signature = signature
      self.package = package
      self.version = version
      self.handler = handler
      self.parameters = parameters
      self.assets = assets
      self.tags = tags
      self.createdAt = createdAt
    }
  }

  /// `POST /api/v1/releases`: a release made of blobs uploaded before.
  public struct CreateRelease: Codable, Sendable, Equatable {
    public struct AssetRef: Codable, Sendable, Equatable {
      public var name: String
      public var sha256: String

      public init(name: String, sha256: String) {
        self.name = name
        self.sha256 = sha256
      }
    }
    public var package: String
    public var version: String
    public var handler: String
    public var parameters: [String: String]
    public var assets: [AssetRef]

    public init(
      package: String, version: String, handler: String = "script", parameters: [String: String] = [:],
      assets: [AssetRef]
    ) {
      self.package = package
      self.version = version
      self.handler = handler
      self.parameters = parameters
      self.assets = assets
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      package = try c.decode(String.self, forKey: .package)
      version = try c.decode(String.self, forKey: .version)
      handler = try c.decodeIfPresent(String.self, forKey: .handler) ?? "script"
      parameters = try c.decodeIfPresent([String: String].self, forKey: .parameters) ?? [:]
      assets = try c.decode([AssetRef].self, forKey: .assets)
    }
  }

  /// A stored blob (`POST /api/v1/blobs`).
  public struct Blob: Codable, Sendable, Equatable {
    public var sha256: String
    public var size: Int64

    public init(sha256: String, size: Int64) {
      self.sha256 = sha256
      self.size = size
    }
  }

  /// A name for a version: locked tags never move, floating tags do.
  public struct Tag: Codable, Sendable, Equatable {
    public var package: String
    public var name: String
    public var version: String
    public var locked: Bool
    public var updatedAt: Date

    public init(package: String, name: String, version: String, locked: Bool, updatedAt: Date) {
      self.package = package
      self.name = name
      self.version = version
      self.locked = locked
      self.updatedAt = updatedAt
    }
  }

  /// `PUT /api/v1/packages/{package}/tags/{tag}`.
  public struct SetTag: Codable, Sendable, Equatable {
    public var version: String
    public var locked: Bool

    public init(version: String, locked: Bool = false) {
      self.version = version
      self.locked = locked
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      version = try c.decode(String.self, forKey: .version)
      locked = try c.decodeIfPresent(Bool.self, forKey: .locked) ?? false
    }
  }

  /// A static group of devices.
  public struct Group: Codable, Sendable, Equatable {
    public var name: String
    public var devices: [String]
    public var createdAt: Date
    /// A dynamic group's policy expression: its members are the devices that match it, updated at each check-in.
    public var expression: String?
    /// A maintenance window (cron-like, as the agent's): outside it the group's devices are not started.
    public var window: String?
    /// The IANA time zone the window is read in (UTC when nil).
    public var timeZone: String?

    public init(
      name: String, devices: [String], createdAt: Date, expression: String? = nil, window: String? = nil,
      timeZone: String? = nil
    ) {
      self.name = name
      self.devices = devices
      self.createdAt = createdAt
      self.expression = expression
      self.window = window
      self.timeZone = timeZone
    }
  }

  /// `POST /api/v1/groups/{name}/devices` and its removal twin.
  public struct GroupMembers: Codable, Sendable, Equatable {
    public var devices: [String]

    public init(devices: [String]) { self.devices = devices }
  }

  public struct Device: Codable, Sendable, Equatable {
    public var id: String
    public var online: Bool
    public var attributes: [String: String]
    public var installed: [String: String]
    public var agentVersion: String?
    public var firstSeen: Date
    public var lastSeen: Date
    /// The update channels the device follows, package to tag (from its agent config).
    public var channels: [String: String]?
    /// When its certificates were revoked (it can no longer connect).
    public var revokedAt: Date?

    public init(
      id: String, online: Bool, attributes: [String: String], installed: [String: String],
      agentVersion: String?, firstSeen: Date, lastSeen: Date, channels: [String: String]? = nil,
      revokedAt: Date? = nil
    ) {
      self.revokedAt = revokedAt
      self.id = id
      self.online = online
      self.attributes = attributes
      self.installed = installed
      self.agentVersion = agentVersion
      self.firstSeen = firstSeen
      self.lastSeen = lastSeen
      self.channels = channels
    }
  }

  /// What an operator may do: read; also publish, deploy and steer the fleet; also manage tokens and revoke devices.
  public enum Role: String, Codable, Sendable, CaseIterable {
    case reader
    case deployer
    case admin
  }

  /// An operator token as listed (its secret is shown once, when it is created).
  public struct Token: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var createdBy: String?
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public init(
      name: String, role: Role, createdAt: Date, createdBy: String?, lastUsedAt: Date? = nil, revokedAt: Date? = nil
    ) {
      self.name = name
      self.role = role
      self.createdAt = createdAt
      self.createdBy = createdBy
      self.lastUsedAt = lastUsedAt
      self.revokedAt = revokedAt
    }
  }

  /// `POST /api/v1/tokens`.
  public struct CreateToken: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role

    public init(name: String, role: Role) {
      self.name = name
      self.role = role
    }
  }

  /// A new token: `secret` is the bearer token, shown only this once (the controller keeps its SHA-256).
  public struct NewToken: Codable, Sendable, Equatable {
    public var token: Token
    public var secret: String

    public init(token: Token, secret: String) {
      self.token = token
      self.secret = secret
    }
  }

  /// `POST /api/v1/enrollment-tokens`: a bootstrap credential for new devices.
  public struct CreateEnrollmentToken: Codable, Sendable, Equatable {
    /// Pre-registers this device id: its request is approved at once. Without it, requests wait for an operator.
    public var device: String?
    /// How many devices may use it.
    public var uses: Int
    /// Seconds it stays valid.
    public var validFor: Int

    public init(device: String? = nil, uses: Int = 1, validFor: Int = 86400) {
      self.device = device
      self.uses = uses
      self.validFor = validFor
    }
  }

  /// A bootstrap token; `secret` is shown only this once.
  public struct EnrollmentToken: Codable, Sendable, Equatable {
    public var secret: String
    public var device: String?
    public var uses: Int
    public var expiresAt: Date

    public init(secret: String, device: String?, uses: Int, expiresAt: Date) {
      self.secret = secret
      self.device = device
      self.uses = uses
      self.expiresAt = expiresAt
    }
  }

  /// `POST /enroll`: a device's certificate signing request (its private key stays on the device).
  public struct EnrollmentRequest: Codable, Sendable, Equatable {
    public var device: String
    public var csr: String

    public init(device: String, csr: String) {
      self.device = device
      self.csr = csr
    }
  }

  /// Where a device's enrollment stands; `certificate` once it is issued.
  public struct Enrollment: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case pending, issued, rejected }
    public var device: String
    public var status: Status
    public var certificate: String?
    public var serial: String?
    public var requestedAt: Date
    public var decidedBy: String?

    public init(
      device: String, status: Status, certificate: String? = nil, serial: String? = nil, requestedAt: Date,
      decidedBy: String? = nil
    ) {
      self.device = device
      self.status = status
      self.certificate = certificate
      self.serial = serial
      self.requestedAt = requestedAt
      self.decidedBy = decidedBy
    }
  }

  /// One operator write: who, what, when, and how it ended.
  public struct AuditEntry: Codable, Sendable, Equatable {
    public var at: Date
    /// `cert:NAME` for a certificate operator, `token:NAME` for a token.
    public var actor: String
    public var method: String
    public var path: String
    public var status: Int

    public init(at: Date, actor: String, method: String, path: String, status: Int) {
      self.at = at
      self.actor = actor
      self.method = method
      self.path = path
      self.status = status
    }
  }

  /// `POST /api/v1/devices/{id}/revoke`: what was revoked.
  public struct Revocation: Codable, Sendable, Equatable {
    public var device: String
    /// Serial numbers (hex) of the device's certificates now on the revocation list.
    public var serials: [String]
    public var revokedAt: Date
    public var reason: String?
    /// The CRL file the broker reads.
    public var crlFile: String

    public init(device: String, serials: [String], revokedAt: Date, reason: String?, crlFile: String) {
      self.device = device
      self.serials = serials
      self.revokedAt = revokedAt
      self.reason = reason
      self.crlFile = crlFile
    }
  }

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

    public init(
      package: String, version: String? = nil, tag: String? = nil, target: Target,
      parameters: [String: String] = [:], name: String? = nil, maxDevices: Int? = nil, deviceTimeout: Int? = nil,
      startAt: Date? = nil, supersede: Bool = false, rollout: RolloutPlan? = nil, needsApproval: Bool = false
    ) {
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

    public init(
      device: String, state: DeviceState, percent: Int?, error: String?, attempts: Int = 0, updatedAt: Date,
      started: Bool = true, fromVersion: String? = nil, round: Int = 1
    ) {
      self.round = round
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

  /// One deployment as one device lived it.
  public struct HistoryEntry: Codable, Sendable, Equatable {
    public var deployment: String
    public var release: ReleaseRef
    public var state: DeviceState
    public var error: String?
    public var attempts: Int
    public var updatedAt: Date

    public init(
      deployment: String, release: ReleaseRef, state: DeviceState, error: String?, attempts: Int, updatedAt: Date
    ) {
      self.deployment = deployment
      self.release = release
      self.state = state
      self.error = error
      self.attempts = attempts
      self.updatedAt = updatedAt
    }
  }

  /// A device with its groups and deployment history (`GET /api/v1/devices/{id}`).
  public struct DeviceDetail: Codable, Sendable, Equatable {
    public var device: Device
    public var groups: [String]
    public var history: [HistoryEntry]

    public init(device: Device, groups: [String], history: [HistoryEntry]) {
      self.device = device
      self.groups = groups
      self.history = history
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

  /// `POST /api/v1/devices/{id}/rollback`: switch a package back to its previous version.
  public struct RollbackRequest: Codable, Sendable, Equatable {
    public var package: String
    public var reason: String?

    public init(package: String, reason: String? = nil) {
      self.package = package
      self.reason = reason
    }
  }

  /// An operator command sent to one device, and what the device answered.
  public struct DeviceCommand: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
      /// Published; the device has not answered yet (it may be offline: the broker keeps it).
      case sent
      case succeeded
      case failed
    }

    public var id: String
    public var device: String
    public var action: String
    public var package: String
    public var reason: String?
    public var status: Status
    public var message: String?
    public var createdAt: Date
    public var finishedAt: Date?

    public init(
      id: String, device: String, action: String, package: String, reason: String?, status: Status,
      message: String?, createdAt: Date, finishedAt: Date?
    ) {
      self.id = id
      self.device = device
      self.action = action
      self.package = package
      self.reason = reason
      self.status = status
      self.message = message
      self.createdAt = createdAt
      self.finishedAt = finishedAt
    }
  }

  public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
      /// Stable, machine-readable: `release_exists`, `not_found`, `invalid_request` …
      public var code: String
      /// For a person: what went wrong and what to do.
      public var message: String

      public init(code: String, message: String) {
        self.code = code
        self.message = message
      }
    }
    public var error: Detail

    public init(code: String, message: String) {
      error = Detail(code: code, message: message)
    }
  }
}
