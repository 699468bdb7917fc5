/// A device's identity: the common name of its client certificate.
///
/// Validated once at the edges so that topics, file names and SQL never see
/// an id that could escape its place (`/`, `+`, `#`, `..`).
public struct DeviceID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
  public let rawValue: String

  /// Names starting with this prefix belong to the controller and operators.
  public static let reservedPrefix = "airlift-"

  public init(_ rawValue: String) throws(AirliftCoreError) {
    guard Self.isValid(rawValue) else {
      throw .invalidDeviceID(rawValue)
    }
    self.rawValue = rawValue
  }

  /// Letters, digits, `.`, `_`, `-`; starts with a letter or digit; at most 64
  /// characters; not in the reserved `airlift-` namespace.
  public static func isValid(_ value: String) -> Bool {
    guard let first = value.unicodeScalars.first, value.utf8.count <= 64 else { return false }
    guard isAlnum(first) else { return false }
    guard !value.hasPrefix(reservedPrefix) else { return false }
    return value.unicodeScalars.allSatisfy { isAlnum($0) || $0 == "." || $0 == "_" || $0 == "-" }
  }

  private static func isAlnum(_ s: Unicode.Scalar) -> Bool {
    s.isASCII && (("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s))
  }

  public var description: String { rawValue }
  public static func < (a: DeviceID, b: DeviceID) -> Bool { a.rawValue < b.rawValue }

  public init(from decoder: any Decoder) throws {
    let value = try decoder.singleValueContainer().decode(String.self)
    try self.init(value)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}
