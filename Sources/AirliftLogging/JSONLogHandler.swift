import Foundation
import Logging
import Synchronization

/// Writes each log event as one line of JSON:
/// `{"time":"…","level":"info","logger":"airlift.agent","message":"…","device":"gw-01"}`.
/// Metadata becomes top-level fields (nested values stay nested), so a log
/// pipeline can filter on `device` or `deployment` without parsing text.
public struct JSONLogHandler: LogHandler {
  public var logLevel: Logger.Level = .info
  public var metadata: Logger.Metadata = [:]
  public var metadataProvider: Logger.MetadataProvider?

  private let label: String
  private let write: @Sendable (String) -> Void

  /// A handler that gives each finished line (with its newline) to `write`.
  public init(label: String, write: @escaping @Sendable (String) -> Void) {
    self.label = label
    self.write = write
  }

  /// A handler writing to standard error, one `write(2)` per event, so lines
  /// from concurrent tasks never interleave.
  public static func standardError(label: String) -> JSONLogHandler {
    JSONLogHandler(label: label) { line in StandardErrorSink.shared.write(line) }
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var fields = metadata
    if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
    if let own = event.metadata { fields.merge(own) { _, new in new } }
    write(
      Self.line(
        time: Date(), level: event.level, label: label, message: event.message.description, metadata: fields,
        source: "\(event.file.split(separator: "/").last ?? ""):\(event.line)"))
  }

  /// ISO 8601 in UTC with milliseconds: `2026-11-30T13:42:51.752Z`.
  static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

  /// One event as a JSON line; the fixed keys come first, then the
  /// metadata sorted by key (a metadata key that clashes with a fixed one
  /// is prefixed with `meta.`).
  static func line(
    time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, source: String
  ) -> String {
    let fixed: [(String, String)] = [
      ("time", time.formatted(Self.timeFormat)),
      ("level", level.rawValue), ("logger", label), ("message", message), ("source", source),
    ]
    let reserved = Set(fixed.map(\.0))
    var out = "{"
    for (index, (key, value)) in fixed.enumerated() {
      if index > 0 { out += "," }
      out += JSONText.string(key) + ":" + JSONText.string(value)
    }
    for key in metadata.keys.sorted() {
      let name = reserved.contains(key) ? "meta.\(key)" : key
      out += "," + JSONText.string(name) + ":" + JSONText.value(metadata[key]!)
    }
    return out + "}\n"
  }
}

/// JSON text for log values (strings escaped per RFC 8259, so a device's
/// error text with quotes or newlines stays one line).
enum JSONText {
  static func string(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
        out += String(format: "\\u%04x", scalar.value)
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }

  static func value(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .string(let text): string(text)
    case .stringConvertible(let convertible): string(convertible.description)
    case .array(let items): "[" + items.map(Self.value).joined(separator: ",") + "]"
    case .dictionary(let fields):
      "{" + fields.keys.sorted().map { string($0) + ":" + Self.value(fields[$0]!) }.joined(separator: ",") + "}"
    }
  }
}

/// Standard error, written one whole line at a time.
final class StandardErrorSink: Sendable {
  static let shared = StandardErrorSink()
  private let lock = Mutex(())

  func write(_ line: String) {
    lock.withLock { _ in try? FileHandle.standardError.write(contentsOf: Data(line.utf8)) }
  }
}
