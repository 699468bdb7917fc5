import Foundation

/// JSON bodies of the controller's REST API (`/api/v1`), shared by the
/// controller and the `airlift` CLI so both sides agree by construction.
public enum API {
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

  public struct Release: Codable, Sendable, Equatable {
    public var package: String
    public var version: String
    public var handler: String
    public var assets: [Asset]
    public var createdAt: Date

    public init(package: String, version: String, handler: String, assets: [Asset], createdAt: Date) {
      self.package = package
      self.version = version
      self.handler = handler
      self.assets = assets
      self.createdAt = createdAt
    }
  }

  public struct Device: Codable, Sendable, Equatable {
    public var id: String
    public var online: Bool
    public var attributes: [String: String]
    public var installed: [String: String]
    public var agentVersion: String?
    public var firstSeen: Date
    public var lastSeen: Date

    public init(
      id: String, online: Bool, attributes: [String: String], installed: [String: String],
      agentVersion: String?, firstSeen: Date, lastSeen: Date
    ) {
      self.id = id
      self.online = online
      self.attributes = attributes
      self.installed = installed
      self.agentVersion = agentVersion
      self.firstSeen = firstSeen
      self.lastSeen = lastSeen
    }
  }

  /// Who a deployment is for: listed devices, or every known device (which
  /// includes devices that check in for the first time while it is active).
  public struct Target: Codable, Sendable, Equatable {
    public var devices: [String]?
    public var allDevices: Bool

    public init(devices: [String]? = nil, allDevices: Bool = false) {
      self.devices = devices
      self.allDevices = allDevices
    }
  }

  public struct CreateDeployment: Codable, Sendable, Equatable {
    public var package: String
    public var version: String
    public var target: Target
    public var parameters: [String: String]
    public var name: String?

    public init(
      package: String, version: String, target: Target, parameters: [String: String] = [:], name: String? = nil
    ) {
      self.package = package
      self.version = version
      self.target = target
      self.parameters = parameters
      self.name = name
    }
  }

  public struct DeviceProgress: Codable, Sendable, Equatable {
    public var device: String
    public var state: DeviceState
    public var percent: Int?
    public var error: String?
    public var updatedAt: Date

    public init(device: String, state: DeviceState, percent: Int?, error: String?, updatedAt: Date) {
      self.device = device
      self.state = state
      self.percent = percent
      self.error = error
      self.updatedAt = updatedAt
    }
  }

  public struct Deployment: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var release: ReleaseRef
    public var status: DeploymentStatus
    public var parameters: [String: String]
    public var allDevices: Bool
    public var createdAt: Date
    public var devices: [DeviceProgress]

    public init(
      id: String, name: String?, release: ReleaseRef, status: DeploymentStatus, parameters: [String: String],
      allDevices: Bool, createdAt: Date, devices: [DeviceProgress]
    ) {
      self.id = id
      self.name = name
      self.release = release
      self.status = status
      self.parameters = parameters
      self.allDevices = allDevices
      self.createdAt = createdAt
      self.devices = devices
    }

    /// Devices per state, for summaries.
    public var counts: [DeviceState: Int] {
      devices.reduce(into: [:]) { $0[$1.state, default: 0] += 1 }
    }
  }

  /// The error body every failing API call returns.
  public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
      public var message: String
    }
    public var error: Detail
  }
}
