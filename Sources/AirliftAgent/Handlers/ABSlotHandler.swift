import AirliftCore
import AirliftCrypto
import Foundation

/// How the `ab-slot` handler finds and switches the device's two slots
/// (agent config key `abSlot`).
public struct ABSlotConfig: Codable, Sendable, Equatable {
  /// The two slots by name (`{"a": "/dev/mmcblk0p2", "b": "/dev/mmcblk0p3"}`): block devices or image files.
  public var slots: [String: String]
  /// Prints the name of the slot the device booted from.
  public var bootedSlotCommand: [String]
  /// Makes the slot named by the appended argument the next boot target.
  public var switchCommand: [String]
  /// Marks the booted slot good once the health check passed (optional; the slot name is appended).
  public var commitCommand: [String]?
  /// Reboots the device. Without it the agent exits and its supervisor starts it again.
  public var rebootCommand: [String]?
  /// Checks the new version after the reboot; a non-zero exit rolls back.
  public var healthCheckCommand: [String]?
  /// Seconds each command may take.
  public var commandTimeout: Double?

  public init(
    slots: [String: String], bootedSlotCommand: [String], switchCommand: [String], commitCommand: [String]? = nil,
    rebootCommand: [String]? = nil, healthCheckCommand: [String]? = nil, commandTimeout: Double? = nil
  ) {
    self.slots = slots
    self.bootedSlotCommand = bootedSlotCommand
    self.switchCommand = switchCommand
    self.commitCommand = commitCommand
    self.rebootCommand = rebootCommand
    self.healthCheckCommand = healthCheckCommand
    self.commandTimeout = commandTimeout
  }
}

/// The `ab-slot` handler: writes the image to the slot the device did not
/// boot from, checks what it wrote, switches the boot target, and asks for
/// a reboot. After the reboot it checks that the device really booted the
/// new slot and runs the health check, then commits; otherwise it switches
/// back. The running slot is never written, so a failed update leaves the
/// device on the version it had.
public struct ABSlotHandler: InstallHandler {
  public static let name = HandlerName.abSlot
  public let needsReboot = true
  let config: ABSlotConfig

  public init(config: ABSlotConfig) {
    self.config = config
  }

  /// Which slots an install moves between, kept in the update's work folder
  /// so the steps after a reboot or a crash know.
  struct Plan: Codable {
    var from: String
    var to: String
    var switched: Bool
  }

  public func install(_ context: InstallContext) async throws {
    let image = try context.singleArtifact(for: Self.name)
    let booted = try await bootedSlot()
    let target = try inactiveSlot(booted: booted)
    var plan = Plan(from: booted, to: target, switched: false)
    try save(plan, context)
    guard let path = config.slots[target] else { throw slotError("no path for slot '\(target)'") }
    try write(image, to: path, expectedSHA256: context.notice.artifacts.first?.sha256)
    try await command("switchCommand", config.switchCommand).check(
      [target], environment: environment(context), timeout: limit)
    plan.switched = true
    try save(plan, context)
  }

  public func reboot() async throws {
    if let reboot = config.rebootCommand { try await command("rebootCommand", reboot).check(timeout: limit) }
  }

  public func verify(_ context: InstallContext) async throws {
    let plan = try load(context)
    let booted = try await bootedSlot()
    guard booted == plan.to else {
      throw slotError("the device booted slot '\(booted)', not the new slot '\(plan.to)': the bootloader fell back")
    }
    if let check = config.healthCheckCommand {
      try await command("healthCheckCommand", check).check(environment: environment(context), timeout: limit)
    }
  }

  public func commit(_ context: InstallContext) async throws {
    guard let commit = config.commitCommand else { return }
    try await command("commitCommand", commit).check(
      [try load(context).to], environment: environment(context), timeout: limit)
  }

  /// Switches the boot target back when the install had switched it; a
  /// reboot is needed when the device runs the new slot now.
  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    guard let plan = try? load(context) else { return .nothingToUndo }
    let booted = try await bootedSlot()
    try await command("switchCommand", config.switchCommand).check(
      [plan.from], environment: environment(context), timeout: limit)
    if booted == plan.to { return .undoneNeedsReboot }
    return plan.switched ? .undone : .nothingToUndo
  }

  /// Boots the other slot, which holds the version installed before.
  public func rollBackToPrevious(package: String, installDirectory: String) async throws -> RollbackOutcome {
    let other = try inactiveSlot(booted: try await bootedSlot())
    try await command("switchCommand", config.switchCommand).check(
      [other], environment: ["AIRLIFT_PACKAGE": package], timeout: limit)
    return .undoneNeedsReboot
  }

  private func bootedSlot() async throws -> String {
    let outcome = try await command("bootedSlotCommand", config.bootedSlotCommand).check(timeout: limit)
    let name = outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    guard config.slots[name] != nil else {
      throw slotError("bootedSlotCommand printed '\(name)', which is not one of \(config.slots.keys.sorted())")
    }
    return name
  }

  private func inactiveSlot(booted: String) throws -> String {
    guard config.slots.count == 2, let other = config.slots.keys.first(where: { $0 != booted }) else {
      throw slotError("abSlot.slots must name exactly two slots, found \(config.slots.count)")
    }
    return other
  }

  /// Copies the image and reads it back: the slot must hold exactly the verified bytes.
  private func write(_ image: String, to slot: String, expectedSHA256: String?) throws {
    guard let input = FileHandle(forReadingAtPath: image) else { throw slotError("cannot read \(image)") }
    defer { try? input.close() }
    if !FileManager.default.fileExists(atPath: slot) {
      guard FileManager.default.createFile(atPath: slot, contents: nil) else {
        throw slotError("cannot create \(slot)")
      }
    }
    guard let output = FileHandle(forWritingAtPath: slot) else { throw slotError("cannot open \(slot) for writing") }
    defer { try? output.close() }
    var written: UInt64 = 0
    while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
      try output.write(contentsOf: chunk)
      written += UInt64(chunk.count)
    }
    // An image file shrinks to the image; a block device keeps its size.
    if (try? FileManager.default.attributesOfItem(atPath: slot)[.type] as? FileAttributeType) == .typeRegular {
      try output.truncate(atOffset: written)
    }
    try output.synchronize()
    guard let expectedSHA256 else { return }
    let check = SHA256Hasher()
    guard let readBack = FileHandle(forReadingAtPath: slot) else { throw slotError("cannot read back \(slot)") }
    defer { try? readBack.close() }
    var remaining = written
    while remaining > 0, let chunk = try readBack.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty {
      check.update(chunk)
      remaining -= UInt64(chunk.count)
    }
    let digest = check.finalizeHex()
    guard digest == expectedSHA256 else {
      throw slotError("\(slot) reads back with SHA-256 \(digest), expected \(expectedSHA256): the write failed")
    }
  }

  private func environment(_ context: InstallContext) -> [String: String] {
    [
      "AIRLIFT_DEVICE_ID": context.deviceID.rawValue, "AIRLIFT_DEPLOYMENT": context.notice.deployment,
      "AIRLIFT_PACKAGE": context.notice.release.package, "AIRLIFT_VERSION": context.notice.release.version,
    ]
  }

  /// Seconds each command may take (`commandTimeout`, default 300).
  private var limit: Double { min(max(config.commandTimeout ?? 300, 1), 86_400) }

  private func command(_ role: String, _ argv: [String]) -> LocalCommand {
    LocalCommand(role: "abSlot.\(role)", argv: argv)
  }

  private func planPath(_ context: InstallContext) -> String { "\(context.workDirectory)/ab-slot.json" }

  private func save(_ plan: Plan, _ context: InstallContext) throws {
    try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
    try JSONEncoder().encode(plan).write(to: URL(fileURLWithPath: planPath(context)), options: .atomic)
  }

  private func load(_ context: InstallContext) throws -> Plan {
    guard let data = FileManager.default.contents(atPath: planPath(context)) else {
      throw slotError("the install left no record of its slots in \(context.workDirectory)")
    }
    return try JSONDecoder().decode(Plan.self, from: data)
  }

  private func slotError(_ reason: String) -> AgentError { .slot(reason: reason) }
}
