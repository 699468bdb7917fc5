import Foundation

/// Any JSON value: what a telemetry event carries is the device program's
/// own shape, kept as sent.
public enum JSONValue: Codable, Sendable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .number(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }

  /// How deep arrays and objects nest (a scalar is 0).
  public var depth: Int {
    switch self {
    case .array(let items): 1 + (items.map(\.depth).max() ?? 0)
    case .object(let members): 1 + (members.values.map(\.depth).max() ?? 0)
    default: 0
    }
  }

  /// Parses `text` as one JSON value (an object, an array, a string, a number, `true`, `false` or `null`).
  public static func parse(_ text: String) throws(AirliftCoreError) -> JSONValue {
    do {
      return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    } catch {
      throw .invalidField(field: "event data", reason: "not JSON (\(text.prefix(60))): give e.g. '{\"c\": 71}'")
    }
  }

  /// Compact JSON text, keys sorted.
  public var text: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(self)) ?? Data("null".utf8), as: UTF8.self)
  }
}

/// `airlift/v1/devices/{id}/event`, or one item of a polling device's
/// `POST /api/v1/device/events`: a telemetry event a program on the device
/// sent through the agent (`airlift-agent event send temperature '{"c":71}'`).
/// Queued in the agent's outbox while the device is offline, so `time` is
/// when it happened, not when it arrived.
public struct DeviceEvent: Codable, Sendable, Equatable {
  public var v: Int = Wire.version
  public var device: DeviceID
  /// What it is about, named like a property key (`temperature`, `disk.full`).
  public var kind: String
  public var time: Date
  public var data: JSONValue

  public init(device: DeviceID, kind: String, time: Date = Date(), data: JSONValue) {
    self.device = device
    self.kind = kind
    self.time = time
    self.data = data
  }

  /// Bytes of one event's data as JSON text.
  public static let maxDataBytes = 8192
  /// How deep its data may nest.
  public static let maxDataDepth = 16
  /// Events in one HTTPS batch.
  public static let maxBatch = 500

  /// A kind as property keys are named; data of at most 8 KiB and 16 levels.
  public func validate() throws(AirliftCoreError) {
    try Self.validateKind(kind)
    try Self.validateData(data)
  }

  public static func validateKind(_ kind: String) throws(AirliftCoreError) {
    do {
      try Names.validatePropertyKey(kind)
    } catch {
      throw .invalidField(
        field: "event kind", reason: "'\(kind.prefix(80))': use 1-64 letters, digits, '_', '.' or '-'")
    }
  }

  public static func validateData(_ data: JSONValue) throws(AirliftCoreError) {
    try Limits.check("event data (bytes of JSON)", data.text.utf8.count, in: 0...maxDataBytes)
    try Limits.check("event data (nesting depth)", data.depth, in: 0...maxDataDepth)
  }
}

/// RFC 3339 times as query parameters take them: `2026-12-07T10:00:00Z`, with an offset, or with fractions of a
/// second.
public enum InternetTime {
  public static func parse(_ text: String) -> Date? {
    let plain = ISO8601DateFormatter()
    if let date = plain.date(from: text) { return date }
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return fractional.date(from: text)
  }
}

/// `POST /api/v1/device/events`: a polling device's queued events.
public struct DeviceEventBatch: Codable, Sendable, Equatable {
  public var v: Int = Wire.version
  public var events: [DeviceEvent]

  public init(events: [DeviceEvent]) { self.events = events }
}

extension API {
  /// One stored event, as `GET /api/v1/devices/{id}/events` lists it.
  public struct StoredDeviceEvent: Codable, Sendable, Equatable {
    public var id: Int64
    public var device: String
    public var kind: String
    /// When it happened on the device.
    public var time: Date
    /// When the controller stored it.
    public var receivedAt: Date
    public var data: JSONValue

    public init(id: Int64, device: String, kind: String, time: Date, receivedAt: Date, data: JSONValue) {
      self.id = id
      self.device = device
      self.kind = kind
      self.time = time
      self.receivedAt = receivedAt
      self.data = data
    }
  }

  /// `GET /api/v1/devices/{id}/events`: newest first.
  public struct DeviceEventList: Codable, Sendable, Equatable {
    public var events: [StoredDeviceEvent]

    public init(events: [StoredDeviceEvent]) { self.events = events }
  }
}
