import AirliftAgent
import Foundation

/// The one fake in the suite, standing in for what cannot run here: a
/// bootloader and a reboot. It sits behind the same commands a real one
/// would (the `ab-slot` handler runs `bootctl booted` and `bootctl switch
/// SLOT`, as with `fw_printenv`/`fw_setenv` or `grub-editenv`): the next
/// boot target and the booted slot live in two files, and `powerCycle()`
/// — the test restarting the device — boots the next target.
struct FakeBootloader {
  let folder: String

  init(in root: String) throws {
    folder = "\(root)/boot"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let script = """
      #!/bin/sh
      # Fake bootloader: booted | switch SLOT
      set -eu
      dir=$(dirname "$0")
      case "$1" in
        booted) cat "$dir/booted" ;;
        switch) printf '%s' "$2" > "$dir/next.tmp" && mv "$dir/next.tmp" "$dir/next" ;;
        *) echo "usage: bootctl booted | switch SLOT" >&2; exit 2 ;;
      esac
      """
    try script.write(toFile: "\(folder)/bootctl", atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(folder)/bootctl")
    try "a".write(toFile: "\(folder)/booted", atomically: true, encoding: .utf8)
    try "a".write(toFile: "\(folder)/next", atomically: true, encoding: .utf8)
    try Data("slot a: version 0\n".utf8).write(to: URL(fileURLWithPath: "\(folder)/a.img"))
  }

  /// The `abSlot` config for this bootloader; `healthCheck` and `reboot` are argument lists.
  func config(healthCheck: [String]? = nil, reboot: [String]? = nil) -> ABSlotConfig {
    ABSlotConfig(
      slots: ["a": "\(folder)/a.img", "b": "\(folder)/b.img"], bootedSlotCommand: ["\(folder)/bootctl", "booted"],
      switchCommand: ["\(folder)/bootctl", "switch"], rebootCommand: reboot, healthCheckCommand: healthCheck,
      commandTimeout: 60)
  }

  /// Boots whatever the last switch chose.
  func powerCycle() throws {
    try next.write(toFile: "\(folder)/booted", atomically: true, encoding: .utf8)
  }

  var booted: String { (try? String(contentsOfFile: "\(folder)/booted", encoding: .utf8)) ?? "" }
  var next: String { (try? String(contentsOfFile: "\(folder)/next", encoding: .utf8)) ?? "" }

  func slot(_ name: String) -> Data? { FileManager.default.contents(atPath: "\(folder)/\(name).img") }
}

/// Shell scripts for tests (fixtures: they are files the agent runs by
/// path, never strings it hands to a shell).
enum TestScript {
  /// Writes an executable script to `path`.
  static func write(_ path: String, _ body: String) throws -> String {
    try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    return path
  }

  /// The first run touches `<marker>.started` and blocks (at most 60 s)
  /// until `<marker>.release` exists, then exits with `blockedStatus`; later
  /// runs create `<marker>.release` (freeing the first) and exit with
  /// `laterStatus`.
  static func blockOnce(_ marker: String, blockedStatus: Int = 0, laterStatus: Int = 0) -> String {
    """
    if [ -e '\(marker).started' ]; then touch '\(marker).release'; exit \(laterStatus); fi
    touch '\(marker).started'
    i=0
    while [ ! -e '\(marker).release' ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
    exit \(blockedStatus)
    """
  }
}
