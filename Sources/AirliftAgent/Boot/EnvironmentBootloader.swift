import Foundation

/// A bootloader environment: variables the boot script reads and the agent
/// sets, all of one update's at once.
protocol BootEnvironment: Sendable {
  /// What tool and file it is, for messages.
  var name: String { get }
  func read() async throws -> [String: String]
  func write(_ values: KeyValuePairs<String, String>) async throws
}

extension BootEnvironment {
  /// `name=value` lines, as both tools list an environment.
  static func assignments(_ text: String) -> [String: String] {
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") {
      guard let equals = line.firstIndex(of: "=") else { continue }
      values[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    return values
  }
}

/// The A/B scheme the U-Boot script and the GRUB fragment in the README
/// carry out, on their environment (the variables Mender's integrations
/// use, and the slot by name):
///
/// - `airlift_slot`: the slot to boot; `airlift_good_slot`: the last one
///   committed, where a failed trial falls back to;
/// - `upgrade_available` 1 while a new slot is on trial; each boot on
///   trial counts `bootcount` up, and past `bootlimit` the script boots
///   `airlift_good_slot` and clears the trial;
/// - the script puts `airlift.slot=NAME` on the kernel command line, which
///   is how the agent knows what booted.
struct EnvironmentBootloader: Bootloader {
  let environment: any BootEnvironment
  /// The kernel command line (`/proc/cmdline`; a file the boot step writes in tests).
  let commandLine: String
  /// Boots on trial before the fallback.
  let bootLimit: Int

  func bootedSlot() async throws -> String {
    guard let text = try? String(contentsOfFile: commandLine, encoding: .utf8) else {
      throw AgentError.slot(reason: "cannot read the kernel command line at \(commandLine)")
    }
    guard let slot = slotInCommandLine(text) else {
      throw AgentError.slot(
        reason:
          "the kernel command line (\(commandLine)) has no airlift.slot=NAME: the boot script must add it (README, A/B slots)"
      )
    }
    return slot
  }

  func tryNext(_ slot: String, fallback: String) async throws {
    let current = try await environment.read()
    // The fallback is the slot that runs now, unless the environment already names a good one.
    let good = current["airlift_good_slot"].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
    try await environment.write([
      "airlift_good_slot": good == slot ? fallback : good, "airlift_slot": slot, "bootcount": "0",
      "bootlimit": "\(bootLimit)", "upgrade_available": "1",
    ])
  }

  func commit(_ slot: String) async throws {
    try await environment.write([
      "airlift_good_slot": slot, "airlift_slot": slot, "bootcount": "0", "upgrade_available": "0",
    ])
  }

  func makePrimary(_ slot: String, other: String) async throws {
    try await commit(slot)
  }
}

/// U-Boot's environment through Debian's `libubootenv-tool`: `fw_printenv`
/// reads it, `fw_setenv -s` writes one update's variables in one go (with a
/// redundant environment, to the other copy, so a cut write leaves the old).
struct UBootEnvironment: BootEnvironment {
  /// fw_env.config (nil: the tools' default, /etc/fw_env.config).
  let config: String?
  let timeout: Double

  var name: String { "the U-Boot environment (\(config ?? "/etc/fw_env.config"))" }

  private var configArguments: [String] { config.map { ["-c", $0] } ?? [] }

  func read() async throws -> [String: String] {
    let outcome = try await LocalCommand(role: "abSlot.bootloader", argv: ["fw_printenv"] + configArguments)
      .run(timeout: timeout)
    guard outcome.succeeded else {
      throw AgentError.slot(reason: "fw_printenv could not read \(name): \(outcome.status): \(outcome.message)")
    }
    return Self.assignments(outcome.standardOutput)
  }

  func write(_ values: KeyValuePairs<String, String>) async throws {
    // A script file of `name=value` lines (libubootenv's form): values are never parsed by a shell.
    let script = FileManager.default.temporaryDirectory.appendingPathComponent("airlift-fw-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: script) }
    try values.map { "\($0.key)=\($0.value)\n" }.joined().write(toFile: script, atomically: true, encoding: .utf8)
    let outcome = try await LocalCommand(
      role: "abSlot.bootloader", argv: ["fw_setenv"] + configArguments + ["-s", script]
    ).run(timeout: timeout)
    guard outcome.succeeded else {
      throw AgentError.slot(reason: "fw_setenv could not write \(name): \(outcome.status): \(outcome.message)")
    }
  }
}

/// GRUB's environment block (`grubenv`, 1 KiB) through `grub-editenv`.
struct GrubEnvironment: BootEnvironment {
  /// The grubenv file (default /boot/grub/grubenv).
  let file: String
  let timeout: Double

  var name: String { "the GRUB environment (\(file))" }

  func read() async throws -> [String: String] {
    let outcome = try await LocalCommand(role: "abSlot.bootloader", argv: ["grub-editenv", file, "list"])
      .run(timeout: timeout)
    guard outcome.succeeded else {
      throw AgentError.slot(reason: "grub-editenv could not read \(name): \(outcome.status): \(outcome.message)")
    }
    return Self.assignments(outcome.standardOutput)
  }

  func write(_ values: KeyValuePairs<String, String>) async throws {
    let outcome = try await LocalCommand(
      role: "abSlot.bootloader", argv: ["grub-editenv", file, "set"] + values.map { "\($0.key)=\($0.value)" }
    ).run(timeout: timeout)
    guard outcome.succeeded else {
      throw AgentError.slot(reason: "grub-editenv could not write \(name): \(outcome.status): \(outcome.message)")
    }
  }
}
