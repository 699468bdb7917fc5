import AirliftCore
import Foundation

/// How the `rauc` handler reaches RAUC (agent config key `rauc`).
public struct RAUCConfig: Codable, Sendable, Equatable {
  /// The D-Bus address of the system bus `rauc service` is on (nil: the system's own).
  public var systemBus: String?
  /// Checks the new version after the reboot; a non-zero exit rolls back.
  public var healthCheckCommand: [String]?
  /// Reboots the device. Without it the agent exits and its supervisor starts it again.
  public var rebootCommand: [String]?
  /// Seconds each rauc call may take (default 600: an install writes a whole slot).
  public var commandTimeout: Double?

  public init(
    systemBus: String? = nil, healthCheckCommand: [String]? = nil, rebootCommand: [String]? = nil,
    commandTimeout: Double? = nil
  ) {
    self.systemBus = systemBus
    self.healthCheckCommand = healthCheckCommand
    self.rebootCommand = rebootCommand
    self.commandTimeout = commandTimeout
  }
}

/// The `rauc` handler: a RAUC bundle is installed by the device's own
/// `rauc service` (`rauc install`: its signature, `compatible` and slot
/// choice are RAUC's), which also makes the written slot primary through
/// its bootloader backend. After the reboot the agent checks that the
/// new slot booted and runs the health check, then `rauc status
/// mark-good`; otherwise `mark-bad` and the other slot active again.
public struct RAUCHandler: InstallHandler {
  public static let name = HandlerName.rauc
  public let needsReboot = true
  let config: RAUCConfig

  public init(config: RAUCConfig) { self.config = config }

  /// The boot names an install moves between, kept in the update's work folder.
  struct Plan: Codable {
    var from: String
    var to: String?
  }

  /// What `rauc status --output-format=json` says (the parts the handler reads).
  struct Status: Decodable {
    var booted: String
    var bootPrimary: String?
    var slots: [[String: Slot]]

    struct Slot: Decodable {
      var bootname: String?
    }

    enum CodingKeys: String, CodingKey {
      case booted
      case bootPrimary = "boot_primary"
      case slots
    }

    /// The boot name of the primary slot (the one the next boot starts).
    var primary: String? {
      guard let name = bootPrimary else { return nil }
      return slots.lazy.compactMap { $0[name]?.bootname }.first
    }
  }

  public func install(_ context: InstallContext) async throws {
    let bundle = try context.singleArtifact(for: Self.name)
    let before = try await status()
    try save(Plan(from: before.booted, to: nil), context)
    let outcome = try await rauc(["install", bundle]).run(timeout: limit, outputLimit: 1 << 20) { line in
      if let progress = Self.progress(line) { context.progress(progress) }
    }
    guard outcome.succeeded else {
      throw AgentError.slot(reason: "rauc install \(outcome.status): \(outcome.message)")
    }
    let after = try await status()
    guard let target = after.primary, target != before.booted else {
      throw AgentError.slot(reason: "rauc install succeeded but made no other slot primary (booted \(before.booted))")
    }
    try save(Plan(from: before.booted, to: target), context)
  }

  /// RAUC's own progress in a line `rauc install` prints (`" 40% Copying image to rootfs.1"`), else nil.
  static func progress(_ line: String) -> InstallProgress? {
    let text = line.trimmingCharacters(in: .whitespaces)
    guard let sign = text.firstIndex(of: "%"), let percent = Int(text[..<sign]), (0...100).contains(percent) else {
      return nil
    }
    let step = text[text.index(after: sign)...].trimmingCharacters(in: .whitespaces)
    guard !step.isEmpty else { return nil }
    return InstallProgress(stage: "rauc: \(step.prefix(200))", percent: percent)
  }

  public func reboot() async throws {
    if let reboot = config.rebootCommand {
      try await LocalCommand(role: "rauc.rebootCommand", argv: reboot).check(timeout: limit)
    }
  }

  public func verify(_ context: InstallContext) async throws {
    let plan = try load(context)
    let booted = try await status().booted
    guard booted == plan.to else {
      throw AgentError.slot(
        reason: "the device booted slot \(booted), not the new slot \(plan.to ?? "?"): the bootloader fell back")
    }
    if let check = config.healthCheckCommand {
      try await LocalCommand(role: "rauc.healthCheckCommand", argv: check).check(
        environment: ["AIRLIFT_PACKAGE": context.notice.release.package], timeout: limit)
    }
  }

  public func commit(_ context: InstallContext) async throws {
    try await rauc(["status", "mark-good"]).check(timeout: limit)
  }

  /// `rauc status mark-good` for the booted slot: with no update on trial it is the good one. This is the part
  /// of RAUC's `rauc-mark-good.service` the agent takes over (that service would also mark a new slot good
  /// before Airlift's health check passed).
  public func confirmRunningVersion() async throws {
    try await rauc(["status", "mark-good"]).check(timeout: limit)
  }

  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    guard let plan = try? load(context) else { return .nothingToUndo }
    let booted = try await status().booted
    if let target = plan.to, booted == target {
      try await rauc(["status", "mark-bad"]).check(timeout: limit)
      try await rauc(["status", "mark-active", "other"]).check(timeout: limit)
      return .undoneNeedsReboot
    }
    // Not rebooted yet (or the bootloader fell back): the running slot is made primary again.
    try await rauc(["status", "mark-active", "booted"]).check(timeout: limit)
    return plan.to == nil ? .nothingToUndo : .undone
  }

  public func rollBackToPrevious(package: String, installDirectory: String) async throws -> RollbackOutcome {
    try await rauc(["status", "mark-active", "other"]).check(timeout: limit)
    return .undoneNeedsReboot
  }

  private func status() async throws -> Status {
    let outcome = try await rauc(["status", "--output-format=json"]).check(timeout: limit)
    do {
      return try JSONDecoder().decode(Status.self, from: Data(outcome.standardOutput.utf8))
    } catch {
      throw AgentError.slot(reason: "rauc status said something this agent cannot read: \(error)")
    }
  }

  private func rauc(_ arguments: [String]) -> RAUCCommand { RAUCCommand(arguments: arguments, bus: config.systemBus) }

  private var limit: Double { min(max(config.commandTimeout ?? 600, 1), 86_400) }

  private func save(_ plan: Plan, _ context: InstallContext) throws {
    try InstallRecord<Plan>(context: context, name: "rauc.json").save(plan)
  }

  private func load(_ context: InstallContext) throws -> Plan {
    try InstallRecord<Plan>(context: context, name: "rauc.json").load()
  }
}

/// One `rauc` call, on the configured system bus.
struct RAUCCommand {
  let arguments: [String]
  let bus: String?

  private var command: LocalCommand { LocalCommand(role: "rauc \(arguments[0])", argv: ["rauc"] + arguments) }
  private var environment: [String: String] { bus.map { ["DBUS_SYSTEM_BUS_ADDRESS": $0] } ?? [:] }

  func run(
    timeout: Double, outputLimit: Int = 65536, onLine: (@Sendable (String) -> Void)? = nil
  ) async throws -> LocalCommand.Outcome {
    try await command.run(environment: environment, timeout: timeout, outputLimit: outputLimit, onLine: onLine)
  }

  @discardableResult
  func check(timeout: Double) async throws -> LocalCommand.Outcome {
    try await command.check(environment: environment, timeout: timeout)
  }
}
