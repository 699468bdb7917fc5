import Foundation

/// The fleet: devices, groups, history, operator commands.
extension API {
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
    /// Its containerized apps and their state, from its last check-in.
    public var apps: [AppState]?
    /// MQTT or HTTPS polling (nil: not known yet).
    public var transport: DeviceTransport?
    /// When a polling device said it would check in again.
    public var nextCheckIn: Date?
    /// What its agent said keeps it from working as it should (a full data disk), at its last check-in.
    public var problems: [String]?
    /// The hardware it said it is (agent config `compatible`), at its last check-in.
    public var compatible: String?
    /// The repositories it may read releases of; nil: all.
    public var repositories: [String]?
    /// When its newest certificate that is not revoked expires (as the controller saw or issued it).
    public var certificateExpires: Date?

    public init(
      id: String, online: Bool, attributes: [String: String], installed: [String: String],
      agentVersion: String?, firstSeen: Date, lastSeen: Date, channels: [String: String]? = nil,
      revokedAt: Date? = nil, apps: [AppState]? = nil, transport: DeviceTransport? = nil, nextCheckIn: Date? = nil,
      problems: [String]? = nil, compatible: String? = nil, repositories: [String]? = nil
    ) {
      self.repositories = repositories
      self.compatible = compatible
      self.problems = problems
      self.transport = transport
      self.nextCheckIn = nextCheckIn
      self.apps = apps
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
    /// Its properties: desired, from where, and the version it applied.
    public var properties: DeviceProperties?

    public init(device: Device, groups: [String], history: [HistoryEntry], properties: DeviceProperties? = nil) {
      self.properties = properties
      self.device = device
      self.groups = groups
      self.history = history
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
}
