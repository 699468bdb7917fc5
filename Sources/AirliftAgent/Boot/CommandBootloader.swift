/// Any other bootloader, through the commands in the `abSlot` config:
/// `bootedSlotCommand` prints the booted slot, `switchCommand SLOT` makes
/// SLOT the next boot (the trial and the fallback are the commands' own
/// business), `commitCommand SLOT` (optional) marks it good.
struct CommandBootloader: Bootloader {
  let booted: [String]
  let switchTo: [String]
  let commitSlot: [String]?
  let environment: [String: String]
  let timeout: Double

  func bootedSlot() async throws -> String {
    let outcome = try await LocalCommand(role: "abSlot.bootedSlotCommand", argv: booted).check(timeout: timeout)
    return outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func tryNext(_ slot: String, fallback: String) async throws {
    try await LocalCommand(role: "abSlot.switchCommand", argv: switchTo).check(
      [slot], environment: environment, timeout: timeout)
  }

  func commit(_ slot: String) async throws {
    guard let commitSlot else { return }
    try await LocalCommand(role: "abSlot.commitCommand", argv: commitSlot).check(
      [slot], environment: environment, timeout: timeout)
  }

  func makePrimary(_ slot: String, other: String) async throws {
    try await tryNext(slot, fallback: other)
  }
}
