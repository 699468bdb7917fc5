import AirliftCore
import Foundation
import Logging

/// Applies the properties the controller sends: checked, written at once
/// (a new file renamed over the old) as one JSON object local programs read,
/// the version kept beside it, a `device:config` event for the socket and
/// the hooks, and a check-in so the controller sees the version applied.
/// The same version twice is applied once.
actor PropertyApplier {
  let file: String
  let events: EventHub
  let logger: Logger
  private let onApplied: @Sendable () async -> Void

  init(file: String, events: EventHub, logger: Logger, onApplied: @escaping @Sendable () async -> Void) {
    self.file = file
    self.events = events
    self.logger = logger
    self.onApplied = onApplied
  }

  private var versionFile: String { file + ".version" }

  /// The version applied last (nil: none yet); read from disk, so it survives restarts.
  nonisolated var appliedVersion: String? { Self.appliedVersion(file: file) }

  /// The version applied to the properties `file`.
  static func appliedVersion(file: String) -> String? {
    (try? String(contentsOfFile: file + ".version", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
      .nilIfEmpty
  }

  func apply(_ config: DeviceConfig) async {
    do {
      try config.validate()
    } catch {
      return logger.warning("ignored properties version \(config.version.prefix(64)): \(error)")
    }
    guard config.version != appliedVersion else { return }
    do {
      let folder = (file as NSString).deletingLastPathComponent
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
      // The properties first, then the version that names them: a crash between leaves the old version, and
      // the controller sends the set again.
      try encoder.encode(config.properties).write(to: URL(fileURLWithPath: file), options: .atomic)
      try Data(config.version.utf8).write(to: URL(fileURLWithPath: versionFile), options: .atomic)
    } catch {
      return logger.error("could not write the properties to \(file): \(error); they are applied at the next message")
    }
    logger.notice("applied properties version \(config.version) (\(config.properties.count) keys) to \(file)")
    events.publish(.config(DeviceConfigEvent(version: config.version, file: file, properties: config.properties)))
    await onApplied()
  }
}

extension String {
  fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
