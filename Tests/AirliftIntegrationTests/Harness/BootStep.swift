import AirliftAgent
import Foundation

/// A device's bootloader with its real environment: U-Boot's in a file
/// through `fw_printenv`/`fw_setenv`, or GRUB's `grubenv` through
/// `grub-editenv` — the tools and the file the agent's integration uses.
/// Only the boot itself is played: `powerCycle()` does, with the same
/// tools, what the U-Boot script and the GRUB fragment in the README do,
/// and writes the kernel command line the agent reads. What a reboot
/// cannot be here is the one part simulated.
struct BootStep {
  let kind: BootloaderKind
  let folder: String

  /// What `abSlot.environment` names: fw_env.config, or the grubenv file.
  var environment: String { kind == .uboot ? "\(folder)/fw_env.config" : "\(folder)/grubenv" }
  var commandLine: String { "\(folder)/cmdline" }

  /// A device booted from slot a, version 0, nothing on trial, three boots allowed on trial.
  init(in root: String, kind: BootloaderKind) throws {
    self.kind = kind
    folder = "\(root)/boot-\(kind.rawValue)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let initial = ["airlift_slot=a", "airlift_good_slot=a", "upgrade_available=0", "bootcount=0", "bootlimit=3"]
    switch kind {
    case .uboot:
      // A 16 KiB environment in a plain file, as fw_env.config allows; U-Boot would have written the defaults.
      try Data(count: 0x4000).write(to: URL(fileURLWithPath: "\(folder)/uboot.env"))
      try "\(folder)/uboot.env 0x0 0x4000\n".write(toFile: environment, atomically: true, encoding: .utf8)
      try (initial.joined(separator: "\n") + "\n").write(
        toFile: "\(folder)/defaults", atomically: true, encoding: .utf8)
      try Self.run(["fw_setenv", "-c", environment, "-f", "\(folder)/defaults", "bootcount", "0"])
    case .grub:
      try Self.run(["grub-editenv", environment, "create"])
      try Self.run(["grub-editenv", environment, "set"] + initial)
    case .commands:
      throw HarnessError.setup("BootStep plays uboot or grub, not commands")
    }
    try writeCommandLine(slot: "a")
    try Data("slot a: version 0\n".utf8).write(to: URL(fileURLWithPath: "\(folder)/a.img"))
  }

  /// The `abSlot` config for this device.
  func config(healthCheck: [String]? = nil, reboot: [String]? = nil) -> ABSlotConfig {
    ABSlotConfig(
      slots: ["a": "\(folder)/a.img", "b": "\(folder)/b.img"], bootloader: kind, environment: environment,
      commandLine: commandLine, bootLimit: 3, rebootCommand: reboot, healthCheckCommand: healthCheck,
      commandTimeout: 60)
  }

  /// The environment as the tool lists it.
  func variables() throws -> [String: String] {
    let text =
      kind == .uboot
      ? try Self.run(["fw_printenv", "-c", environment]) : try Self.run(["grub-editenv", environment, "list"])
    return Self.assignments(text)
  }

  /// `name=value` lines as both tools print them. The test reads them on its own rather than through the
  /// agent's parser, so a mistake there cannot hide in both.
  static func assignments(_ text: String) -> [String: String] {
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") {
      guard let equals = line.firstIndex(of: "=") else { continue }
      values[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    return values
  }

  private func set(_ assignments: [String]) throws {
    switch kind {
    case .uboot:
      for assignment in assignments {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        try Self.run(["fw_setenv", "-c", environment] + parts)
      }
    default:
      try Self.run(["grub-editenv", environment, "set"] + assignments)
    }
  }

  /// One power cycle, as the boot script does it: a slot on trial counts a boot, and past `bootlimit` the
  /// good slot boots instead and the trial ends. Returns the slot that booted.
  @discardableResult
  func powerCycle() throws -> String {
    let values = try variables()
    var slot = values["airlift_slot"] ?? "a"
    if values["upgrade_available"] == "1" {
      let count = (Int(values["bootcount"] ?? "0") ?? 0) + 1
      if count > (Int(values["bootlimit"] ?? "3") ?? 3) {
        slot = values["airlift_good_slot"] ?? "a"
        try set(["airlift_slot=\(slot)", "upgrade_available=0", "bootcount=0"])
      } else {
        try set(["bootcount=\(count)"])
      }
    }
    try writeCommandLine(slot: slot)
    return slot
  }

  private func writeCommandLine(slot: String) throws {
    try "console=ttyS0 rootwait airlift.slot=\(slot)\n".write(toFile: commandLine, atomically: true, encoding: .utf8)
  }

  var booted: String {
    let text = (try? String(contentsOfFile: commandLine, encoding: .utf8)) ?? ""
    return text.split(separator: " ").first { $0.hasPrefix("airlift.slot=") }.map {
      String($0.dropFirst("airlift.slot=".count)).trimmingCharacters(in: .whitespacesAndNewlines)
    } ?? ""
  }

  func slot(_ name: String) -> Data? { FileManager.default.contents(atPath: "\(folder)/\(name).img") }

  /// Runs a tool (from scripts/programs) with arguments and `input` on its standard input; its standard output,
  /// or an error with its standard error.
  @discardableResult
  static func run(_ argv: [String], input: String? = nil) throws -> String {
    let process = Process()
    // The sbin directories too: losetup and mkfs.ext4 live there, and a test's PATH may lack them.
    let path = ProcessInfo.processInfo.environment["PATH", default: ""]
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    guard let program = argv.first,
      let executable = directories.map({ "\($0)/\(program)" }).first(where: FileManager.default.isExecutableFile)
    else { throw HarnessError.setup("\(argv.first ?? "") is not installed (scripts/setup installs it)") }
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = Array(argv.dropFirst())
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    let stdin = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
      stdin.fileHandleForWriting.write(Data(input.utf8))
      try stdin.fileHandleForWriting.close()
    }
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw HarnessError.setup(
        "\(argv.joined(separator: " ")) exited with \(process.terminationStatus): \(String(decoding: err, as: UTF8.self))"
      )
    }
    return String(decoding: out, as: UTF8.self)
  }
}
