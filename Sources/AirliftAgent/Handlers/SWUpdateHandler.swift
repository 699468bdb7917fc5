import AirliftCore
import Foundation

/// How the `swupdate` handler runs SWUpdate (agent config key `swupdate`; the slots, bootloader, health check
/// and reboot come from `abSlot`).
public struct SWUpdateConfig: Codable, Sendable, Equatable {
  /// The certificate `.swu` images are signed with (`swupdate -k`; Debian's build installs only signed ones).
  public var publicKey: String
  /// The board and revision for the image's hardware-compatibility check (`-H board:1.0`).
  public var hardware: String?
  /// The `-e` selection that writes each slot (`{"a": "stable,copy1", "b": "stable,copy2"}`).
  public var selections: [String: String]
  /// More arguments for swupdate (`["-f", "/etc/swupdate.cfg"]`).
  public var arguments: [String]?

  public init(publicKey: String, hardware: String? = nil, selections: [String: String], arguments: [String]? = nil) {
    self.publicKey = publicKey
    self.hardware = hardware
    self.selections = selections
    self.arguments = arguments
  }

  /// What is wrong with the config next to `abSlot`, for the config's reader; nil when it is usable.
  func problem(slots: ABSlotConfig?) -> String? {
    guard let slots else { return "the swupdate handler needs abSlot (its slots, bootloader and health check)" }
    let missing = slots.slots.keys.sorted().filter { selections[$0]?.isEmpty != false }
    guard missing.isEmpty else { return "selections must name the -e selection of slot(s) \(missing)" }
    return nil
  }
}

/// The `swupdate` handler: an SWUpdate image (`.swu`) goes into the slot
/// the device did not boot from through the real `swupdate` (its signature,
/// hardware-compatibility and checksums checked by it), with the
/// selection that writes that slot; then the A/B flow of `ab-slot` —
/// the bootloader tries the slot, the reboot, the health check, the
/// commit or the fallback.
public struct SWUpdateHandler: InstallHandler {
  public static let name = HandlerName.swupdate
  public let needsReboot = true
  let slots: ABSlotHandler
  let config: SWUpdateConfig

  public init(slots: ABSlotConfig, config: SWUpdateConfig) {
    self.slots = ABSlotHandler(config: slots)
    self.config = config
  }

  public func install(_ context: InstallContext) async throws {
    let image = try context.singleArtifact(for: Self.name)
    try await slots.install(context) { target, path in
      // swupdate writes the device its image names; a mounted slot is refused before it runs.
      try SlotDevice(path: path).checkWritable(imageSize: 0, slot: target)
      guard let selection = config.selections[target] else {
        throw AgentError.slot(reason: "swupdate.selections names no selection for slot '\(target)'")
      }
      var argv = ["swupdate", "-v", "-k", config.publicKey, "-e", selection]
      if let hardware = config.hardware { argv += ["-H", hardware] }
      argv += (config.arguments ?? []) + ["-i", image]
      let outcome = try await LocalCommand(role: "swupdate", argv: argv).run(
        environment: try Self.privateTemporary(context), timeout: slots.commandLimit, outputLimit: 1 << 20
      ) { line in
        if let stage = Self.stage(line, slot: target) { context.progress(InstallProgress(stage: stage)) }
      }
      guard outcome.succeeded, outcome.standardOutput.contains("SWUPDATE successful") else {
        throw AgentError.slot(
          reason: "swupdate \(outcome.status) without writing slot '\(target)': \(Self.lastError(outcome))")
      }
    }
  }

  /// The step a line of `swupdate -v` marks, as an `Installing` stage; nil for the lines between.
  static func stage(_ line: String, slot: String) -> String? {
    if line.contains("[swupdate_verify_file] : Verified OK") { return "swupdate: signature verified" }
    if line.contains("Hardware compatibility verified") { return "swupdate: hardware compatible" }
    if let found = line.range(of: "Found installer for stream ") {
      let image = line[found.upperBound...].split(separator: " ").first.map(String.init) ?? "?"
      return "swupdate: writing \(image.prefix(200)) into slot \(slot)"
    }
    if line.contains("SWUPDATE successful") { return "swupdate: slot \(slot) written" }
    return nil
  }

  /// TMPDIR for swupdate: a folder of this update's, so its sockets and extracted files never meet those of a
  /// swupdate daemon the device runs in /tmp. Empty (the inherited one) when the path is too long for a socket.
  static func privateTemporary(_ context: InstallContext) throws -> [String: String] {
    let folder = "\(context.workDirectory)/swupdate"
    guard folder.utf8.count + "/sockinstctrl".utf8.count < 104 else { return [:] }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return ["TMPDIR": folder]
  }

  /// The line that says why swupdate failed: its last `[ERROR]` line, else its last line.
  static func lastError(_ outcome: LocalCommand.Outcome) -> String {
    let lines = (outcome.standardOutput + "\n" + outcome.errors).split(separator: "\n")
    let line = lines.last { $0.contains("[ERROR]") } ?? lines.last ?? ""
    return line.replacingOccurrences(of: "[ERROR] : SWUPDATE failed [0] ERROR ", with: "")
      .trimmingCharacters(in: .whitespaces)
  }

  public func reboot() async throws { try await slots.reboot() }
  public func verify(_ context: InstallContext) async throws { try await slots.verify(context) }
  public func commit(_ context: InstallContext) async throws { try await slots.commit(context) }
  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    try await slots.rollback(context)
  }
  public func rollBackToPrevious(package: String, installDirectory: String) async throws -> RollbackOutcome {
    try await slots.rollBackToPrevious(package: package, installDirectory: installDirectory)
  }
}
