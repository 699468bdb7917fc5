import AirliftCore
import AirliftCrypto
import Foundation

/// How the `ab-slot` handler finds and switches the device's two slots
/// (agent config key `abSlot`).
public struct ABSlotConfig: Codable, Sendable, Equatable {
  /// The two slots by name (`{"a": "/dev/mmcblk0p2", "b": "/dev/mmcblk0p3"}`): block devices or image files.
  public var slots: [String: String]
  /// The bootloader integration: `uboot`, `grub`, or `commands` (the default: the commands below).
  public var bootloader: BootloaderKind?
  /// `uboot`: the fw_env.config to use (default /etc/fw_env.config); `grub`: the grubenv file (default
  /// /boot/grub/grubenv).
  public var environment: String?
  /// `uboot` and `grub`: where the kernel command line is read, for `airlift.slot=NAME` (default /proc/cmdline).
  public var commandLine: String?
  /// `uboot` and `grub`: boots of a new slot on trial before the bootloader falls back (1 to 10, default 3).
  public var bootLimit: Int?
  /// Writes the image into the inactive slot as it downloads (no copy on the data disk); also done, whatever
  /// this says, when the image is larger than the data disk's free space.
  public var stream: Bool?
  /// `commands`: prints the name of the slot the device booted from.
  public var bootedSlotCommand: [String]?
  /// `commands`: makes the slot named by the appended argument the next boot target.
  public var switchCommand: [String]?
  /// `commands`: marks the booted slot good once the health check passed (optional; the slot name is appended).
  public var commitCommand: [String]?
  /// Reboots the device. Without it the agent exits and its supervisor starts it again.
  public var rebootCommand: [String]?
  /// Checks the new version after the reboot; a non-zero exit rolls back.
  public var healthCheckCommand: [String]?
  /// Seconds each command may take.
  public var commandTimeout: Double?

  public init(
    slots: [String: String], bootloader: BootloaderKind? = nil, environment: String? = nil,
    commandLine: String? = nil, bootLimit: Int? = nil, bootedSlotCommand: [String]? = nil,
    switchCommand: [String]? = nil, commitCommand: [String]? = nil, rebootCommand: [String]? = nil,
    healthCheckCommand: [String]? = nil, commandTimeout: Double? = nil, stream: Bool? = nil
  ) {
    self.stream = stream
    self.slots = slots
    self.bootloader = bootloader
    self.environment = environment
    self.commandLine = commandLine
    self.bootLimit = bootLimit
    self.bootedSlotCommand = bootedSlotCommand
    self.switchCommand = switchCommand
    self.commitCommand = commitCommand
    self.rebootCommand = rebootCommand
    self.healthCheckCommand = healthCheckCommand
    self.commandTimeout = commandTimeout
  }

  /// Boots on trial, when unset.
  public static let defaultBootLimit = 3
  public static let bootLimits = 1...10

  /// What is wrong with the config, for the config's reader to refuse it; nil when it is usable.
  public var problem: String? {
    if let limit = bootLimit, !Self.bootLimits.contains(limit) {
      return "bootLimit is \(limit), out of range: give 1 to 10"
    }
    if slots.count != 2 { return "slots must name exactly two slots, found \(slots.count)" }
    if (bootloader ?? .commands) == .commands, bootedSlotCommand?.isEmpty != false || switchCommand?.isEmpty != false {
      return "the commands bootloader needs bootedSlotCommand and switchCommand (or set bootloader to uboot or grub)"
    }
    return nil
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
    try await install(context) { target, path in
      let checking = { @Sendable (bytes: Int64, total: Int64) in
        context.progress(InstallProgress(stage: "checking slot \(target)", bytes: bytes, total: total))
      }
      if image == path, let artifact = context.notice.artifacts.first {
        // Streamed into the slot as it downloaded: read it back before the bootloader may try it.
        try readBack(path, bytes: UInt64(artifact.size), expectedSHA256: artifact.sha256, progress: checking)
        return
      }
      let size = (try? FileManager.default.attributesOfItem(atPath: image)[.size] as? NSNumber)?.int64Value ?? 0
      try SlotDevice(path: path).checkWritable(imageSize: size, slot: target)
      let written = try write(image, to: path) { bytes in
        context.progress(InstallProgress(stage: "writing slot \(target)", bytes: bytes, total: size))
      }
      if let expected = context.notice.artifacts.first?.sha256 {
        try readBack(path, bytes: written, expectedSHA256: expected, progress: checking)
      }
    }
  }

  /// The install with `write` filling the inactive slot (its name and path): the slots are recorded first, the
  /// bootloader tries the slot only once it is written.
  func install(_ context: InstallContext, write: (String, String) async throws -> Void) async throws {
    let booted = try await bootedSlot()
    let target = try inactiveSlot(booted: booted)
    var plan = Plan(from: booted, to: target, switched: false)
    try save(plan, context)
    guard let path = config.slots[target] else { throw slotError("no path for slot '\(target)'") }
    try await write(target, path)
    try await bootloader(context).tryNext(target, fallback: booted)
    plan.switched = true
    try save(plan, context)
  }

  public func reboot() async throws {
    if let reboot = config.rebootCommand {
      try await LocalCommand(role: "abSlot.rebootCommand", argv: reboot).check(timeout: limit)
    }
  }

  public func verify(_ context: InstallContext) async throws {
    let plan = try load(context)
    let booted = try await bootedSlot()
    guard booted == plan.to else {
      throw slotError("the device booted slot '\(booted)', not the new slot '\(plan.to)': the bootloader fell back")
    }
    if let check = config.healthCheckCommand {
      try await LocalCommand(role: "abSlot.healthCheckCommand", argv: check).check(
        environment: environment(context), timeout: limit)
    }
  }

  public func commit(_ context: InstallContext) async throws {
    try await bootloader(context).commit(try load(context).to)
  }

  /// Switches the boot target back when the install had switched it; a
  /// reboot is needed when the device runs the new slot now.
  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    guard let plan = try? load(context) else { return .nothingToUndo }
    let booted = try await bootedSlot()
    try await bootloader(context).makePrimary(plan.from, other: plan.to)
    if booted == plan.to { return .undoneNeedsReboot }
    return plan.switched ? .undone : .nothingToUndo
  }

  /// Boots the other slot, which holds the version installed before.
  public func rollBackToPrevious(package: String, installDirectory: String) async throws -> RollbackOutcome {
    let booted = try await bootedSlot()
    let other = try inactiveSlot(booted: booted)
    try await bootloader(["AIRLIFT_PACKAGE": package]).makePrimary(other, other: booted)
    return .undoneNeedsReboot
  }

  private func bootedSlot() async throws -> String {
    let name = try await bootloader([:]).bootedSlot()
    guard config.slots[name] != nil else {
      throw slotError("the booted slot is '\(name)', which is not one of \(config.slots.keys.sorted())")
    }
    return name
  }

  /// The configured bootloader integration; `environment` goes to the commands of `commands`.
  private func bootloader(_ environment: [String: String]) -> any Bootloader {
    switch config.bootloader ?? .commands {
    case .uboot:
      EnvironmentBootloader(
        environment: UBootEnvironment(config: config.environment, timeout: limit),
        commandLine: config.commandLine ?? "/proc/cmdline", bootLimit: config.bootLimit ?? ABSlotConfig.defaultBootLimit
      )
    case .grub:
      EnvironmentBootloader(
        environment: GrubEnvironment(file: config.environment ?? "/boot/grub/grubenv", timeout: limit),
        commandLine: config.commandLine ?? "/proc/cmdline", bootLimit: config.bootLimit ?? ABSlotConfig.defaultBootLimit
      )
    case .commands:
      CommandBootloader(
        booted: config.bootedSlotCommand ?? [], switchTo: config.switchCommand ?? [],
        commitSlot: config.commitCommand, environment: environment, timeout: limit)
    }
  }

  private func bootloader(_ context: InstallContext) -> any Bootloader { bootloader(environment(context)) }

  private func inactiveSlot(booted: String) throws -> String {
    guard config.slots.count == 2, let other = config.slots.keys.first(where: { $0 != booted }) else {
      throw slotError("abSlot.slots must name exactly two slots, found \(config.slots.count)")
    }
    return other
  }

  /// Copies the image into the slot, telling `progress` the bytes written; returns how many.
  private func write(_ image: String, to slot: String, progress: (Int64) -> Void) throws -> UInt64 {
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
      progress(Int64(written))
    }
    // An image file shrinks to the image; a block device keeps its size.
    if (try? FileManager.default.attributesOfItem(atPath: slot)[.type] as? FileAttributeType) == .typeRegular {
      try output.truncate(atOffset: written)
    }
    try output.synchronize()
    return written
  }

  /// The first `bytes` of the slot must be the image: what the bootloader will boot is checked, not what was sent.
  private func readBack(
    _ slot: String, bytes: UInt64, expectedSHA256: String, progress: (_ bytes: Int64, _ total: Int64) -> Void
  ) throws {
    let check = SHA256Hasher()
    guard let readBack = FileHandle(forReadingAtPath: slot) else { throw slotError("cannot read back \(slot)") }
    defer { try? readBack.close() }
    var remaining = bytes
    while remaining > 0, let chunk = try readBack.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty {
      check.update(chunk)
      remaining -= UInt64(chunk.count)
      progress(Int64(bytes - remaining), Int64(bytes))
    }
    let digest = check.finalizeHex()
    guard remaining == 0, digest == expectedSHA256 else {
      throw slotError("\(slot) reads back with SHA-256 \(digest), expected \(expectedSHA256): the write failed")
    }
  }

  /// The inactive slot, when the image streams into it: `stream` on, or an image larger than the data disk's
  /// free space. The slot is checked (not mounted, large enough) and the plan recorded before a byte arrives.
  public func streamTarget(
    for artifact: ArtifactRef, context: InstallContext, fitsOnDataDisk: Bool
  ) async throws -> String? {
    guard config.stream == true || !fitsOnDataDisk else { return nil }
    let booted = try await bootedSlot()
    let target = try inactiveSlot(booted: booted)
    guard let path = config.slots[target] else { throw slotError("no path for slot '\(target)'") }
    if !FileManager.default.fileExists(atPath: path) {
      guard FileManager.default.createFile(atPath: path, contents: nil) else {
        throw slotError("cannot create \(path)")
      }
    }
    try SlotDevice(path: path).checkWritable(imageSize: artifact.size, slot: target)
    try save(Plan(from: booted, to: target, switched: false), context)
    return path
  }

  private func environment(_ context: InstallContext) -> [String: String] {
    [
      "AIRLIFT_DEVICE_ID": context.deviceID.rawValue, "AIRLIFT_DEPLOYMENT": context.notice.deployment,
      "AIRLIFT_PACKAGE": context.notice.release.package, "AIRLIFT_VERSION": context.notice.release.version,
    ]
  }

  /// Seconds each command may take (`commandTimeout`, default 300).
  private var limit: Double { min(max(config.commandTimeout ?? 300, 1), 86_400) }
  /// Seconds each command may take, for handlers built on this one.
  var commandLimit: Double { limit }

  private func save(_ plan: Plan, _ context: InstallContext) throws {
    try InstallRecord<Plan>(context: context, name: "ab-slot.json").save(plan)
  }

  private func load(_ context: InstallContext) throws -> Plan {
    try InstallRecord<Plan>(context: context, name: "ab-slot.json").load()
  }

  private func slotError(_ reason: String) -> AgentError { .slot(reason: reason) }
}
