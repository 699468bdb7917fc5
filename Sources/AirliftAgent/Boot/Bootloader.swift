import Foundation

/// The bootloader's side of an A/B update, as the `ab-slot` handler needs
/// it: which slot booted, try another once, keep the booted one, or go
/// back for good. `uboot` and `grub` ship with the agent; `commands` runs
/// the configured commands for anything else.
protocol Bootloader: Sendable {
  /// The slot the device booted from.
  func bootedSlot() async throws -> String
  /// Boots `slot` next, on trial: unless the agent commits it, the bootloader falls back to the last good slot
  /// after the boot limit.
  func tryNext(_ slot: String, fallback: String) async throws
  /// The booted `slot` passed its checks: it is the good slot from now on.
  func commit(_ slot: String) async throws
  /// Boots `slot` from now on, no trial (a rollback: `other` is the slot given up).
  func makePrimary(_ slot: String, other: String) async throws
}

/// Which bootloader integration an `ab-slot` device uses (agent config `abSlot.bootloader`).
public enum BootloaderKind: String, Codable, Sendable, CaseIterable {
  /// U-Boot's environment through `fw_printenv`/`fw_setenv` (Debian's `libubootenv-tool`).
  case uboot
  /// GRUB's environment block through `grub-editenv`.
  case grub
  /// The `bootedSlotCommand`, `switchCommand` and `commitCommand` of the config.
  case commands
}

/// The slot a kernel command line names with `airlift.slot=NAME` (what the
/// U-Boot script and the GRUB fragment in the README add to it); nil when
/// it names none.
func slotInCommandLine(_ text: String) -> String? {
  for word in text.split(whereSeparator: \.isWhitespace) where word.hasPrefix("airlift.slot=") {
    let name = word.dropFirst("airlift.slot=".count)
    return name.isEmpty ? nil : String(name)
  }
  return nil
}
