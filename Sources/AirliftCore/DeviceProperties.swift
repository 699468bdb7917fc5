import Foundation

/// `airlift/v1/devices/{id}/config` (retained), or a polling device's
/// check-in answer: the properties the operators want the device to have
/// (its groups', then its own), and the version naming that set. Properties
/// are configuration for local programs, not secrets: every program on the
/// device can read the file they land in.
public struct DeviceConfig: Codable, Sendable, Equatable {
  public var v: Int = 1
  /// Names this set of properties (a digest of it); the device reports the one it applied.
  public var version: String
  public var properties: [String: String]

  public init(version: String, properties: [String: String]) {
    self.version = version
    self.properties = properties
  }

  /// Properties one device or group may have.
  public static let maxProperties = 200
  /// Bytes of one value.
  public static let maxValueBytes = 4096

  /// Names and sizes in range: keys as `Names.validatePropertyKey` says, values up to 4 KiB without NUL.
  public func validate() throws(AirliftCoreError) {
    try Limits.check("properties (how many)", properties.count, in: 0...Self.maxProperties)
    try Limits.check("version (bytes)", version.utf8.count, in: 1...64)
    for (key, value) in properties {
      try Names.validatePropertyKey(key)
      try Self.validateValue(value, key: key)
    }
  }

  public static func validateValue(_ value: String, key: String) throws(AirliftCoreError) {
    try Limits.check("property '\(key)' (bytes)", value.utf8.count, in: 0...maxValueBytes)
    guard !value.contains("\0") else { throw .invalidName("property '\(key)' holds a NUL byte") }
  }
}

/// The `device:config` event local programs see when new properties were applied.
public struct DeviceConfigEvent: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var event: String = "device:config"
  public var version: String
  /// Where the properties were written (a JSON object).
  public var file: String
  public var properties: [String: String]
  public var time: Date

  public init(version: String, file: String, properties: [String: String], time: Date = Date()) {
    self.version = version
    self.file = file
    self.properties = properties
    self.time = time
  }
}

extension Names {
  /// Property keys: 1-64 bytes of letters, digits, `_`, `.` and `-`, starting with a letter or digit
  /// (`log_level`, `ntp.server`).
  public static func validatePropertyKey(_ key: String) throws(AirliftCoreError) {
    guard let first = key.unicodeScalars.first, key.utf8.count <= 64, first.isASCII,
      first.properties.isAlphabetic || ("0"..."9").contains(first),
      key.unicodeScalars.allSatisfy({
        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0))
      })
    else { throw .invalidName("property key '\(key.prefix(80))': use 1-64 letters, digits, '_', '.' or '-'") }
  }
}

extension API {
  /// `PUT /api/v1/devices/{id}/properties` and `/api/v1/groups/{name}/properties`: keys to set and to remove.
  public struct SetProperties: Codable, Sendable, Equatable {
    public var set: [String: String]
    public var unset: [String]

    public init(set: [String: String] = [:], unset: [String] = []) {
      self.set = set
      self.unset = unset
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      set = try c.decodeIfPresent([String: String].self, forKey: .set) ?? [:]
      unset = try c.decodeIfPresent([String].self, forKey: .unset) ?? []
    }

    public func validate() throws(AirliftCoreError) {
      try Limits.check("set (how many)", set.count, in: 0...DeviceConfig.maxProperties)
      try Limits.check("unset (how many)", unset.count, in: 0...DeviceConfig.maxProperties)
      for (key, value) in set {
        try Names.validatePropertyKey(key)
        try DeviceConfig.validateValue(value, key: key)
      }
      for key in unset { try Names.validatePropertyKey(key) }
    }
  }

  /// A device's properties: what it should have (its groups', then its own), the version of that, and the
  /// version it said it applied — `inSync` false is drift.
  public struct DeviceProperties: Codable, Sendable, Equatable {
    public var device: String
    public var desired: [String: String]
    public var version: String
    /// Its own properties (they override its groups').
    public var own: [String: String]
    /// Each group's properties, for the groups that have any.
    public var groups: [String: [String: String]]
    /// The version the device last reported applying (nil: none yet).
    public var reported: String?
    public var reportedAt: Date?
    public var inSync: Bool

    public init(
      device: String, desired: [String: String], version: String, own: [String: String],
      groups: [String: [String: String]], reported: String?, reportedAt: Date?
    ) {
      self.device = device
      self.desired = desired
      self.version = version
      self.own = own
      self.groups = groups
      self.reported = reported
      self.reportedAt = reportedAt
      // A device that never had properties is in sync with having none.
      inSync = reported == version || (reported == nil && desired.isEmpty)
    }

    /// The message that gives the device what it should have.
    public var config: DeviceConfig { DeviceConfig(version: version, properties: desired) }
  }

  /// A group's own properties.
  public struct GroupProperties: Codable, Sendable, Equatable {
    public var group: String
    public var properties: [String: String]

    public init(group: String, properties: [String: String]) {
      self.group = group
      self.properties = properties
    }
  }
}
