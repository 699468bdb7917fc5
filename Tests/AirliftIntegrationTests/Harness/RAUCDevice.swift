import AirliftAgent
import Foundation

/// A device with Debian's real RAUC: `rauc service` on a private system
/// bus (`dbus-daemon`), two ext4 slots on loop devices, and bundles made
/// and signed with `rauc bundle`. The boot state is kept by RAUC's own
/// `grub` backend in a grubenv file (real `grub-editenv`), or by its
/// `custom` backend, a script keeping it in files. What cannot run here is
/// GRUB itself and the reboot: `powerCycle()` does what RAUC's documented
/// grub.cfg does with the environment (or takes the custom primary), then
/// restarts `rauc service` as booted from the slot it chose.
final class RAUCDevice {
  /// The bootloader backend RAUC is configured with.
  enum Backend: String, CustomStringConvertible, Sendable {
    case grub, custom
    var description: String { rawValue }
  }

  let folder: String
  let backend: Backend
  let a: LoopDevice
  let b: LoopDevice
  private var service: ChildProcess?
  private var bus: ChildProcess?

  var busAddress: String { "unix:path=\(folder)/bus.sock" }
  var certificate: String { "\(folder)/cert.pem" }
  var grubenv: String { "\(folder)/grubenv" }

  /// The slot the next boot starts: the custom backend's primary, or the first slot of GRUB's ORDER that is OK
  /// and not yet tried.
  var primary: String {
    guard backend == .grub else { return (try? String(contentsOfFile: "\(folder)/primary", encoding: .utf8)) ?? "" }
    let env = (try? environment()) ?? [:]
    return (env["ORDER"] ?? "").split(separator: " ").map(String.init).first {
      env["\($0)_OK"] == "1" && env["\($0)_TRY"] == "0"
    } ?? ""
  }

  /// `good` or `bad`, as the backend keeps a slot's state.
  func state(_ slot: String) throws -> String {
    guard backend == .grub else {
      return (try? String(contentsOfFile: "\(folder)/state-\(slot)", encoding: .utf8)) ?? "good"
    }
    return try environment()["\(slot)_OK"] == "1" ? "good" : "bad"
  }

  /// The GRUB environment, as `grub-editenv list` prints it.
  func environment() throws -> [String: String] {
    BootStep.assignments(try BootStep.run(["grub-editenv", grubenv, "list"]))
  }

  /// Slot A booted (version 0), B empty; `compatible` is the system's.
  init(in root: String, compatible: String, backend: Backend = .grub) throws {
    folder = "\(root)/rauc"
    self.backend = backend
    try FileManager.default.createDirectory(atPath: "\(folder)/mnt", withIntermediateDirectories: true)
    try BootStep.run(["truncate", "-s", "8M", "\(folder)/a.img", "\(folder)/b.img"])
    try BootStep.run(["mkfs.ext4", "-q", "-F", "\(folder)/a.img"])
    a = try LoopDevice("\(folder)/a.img")
    do {
      b = try LoopDevice("\(folder)/b.img")
    } catch {
      a.detach()
      throw error
    }
    try BootStep.run([
      "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(folder)/key.pem", "-out", certificate,
      "-subj", "/CN=airlift rauc test", "-days", "30",
    ])
    _ = try TestScript.write(
      "\(folder)/backend.sh",
      """
      # RAUC's custom bootloader backend, the boot state in files beside it.
      dir=$(dirname "$0")
      case "$1" in
        get-primary|get-current) cat "$dir/primary" ;;
        set-primary) printf '%s' "$2" > "$dir/primary" ;;
        get-state) cat "$dir/state-$2" 2>/dev/null || echo good ;;
        set-state) printf '%s' "$3" > "$dir/state-$2" ;;
        *) exit 1 ;;
      esac
      """)
    try "A".write(toFile: "\(folder)/primary", atomically: true, encoding: .utf8)
    // A installed and good, B never written: what a factory image's grubenv holds.
    try BootStep.run(["grub-editenv", grubenv, "create"])
    try BootStep.run(["grub-editenv", grubenv, "set", "ORDER=A B", "A_OK=1", "A_TRY=0", "B_OK=0", "B_TRY=0"])
    let backendLines =
      backend == .grub
      ? "bootloader=grub\ngrubenv=\(grubenv)\n"
      : "bootloader=custom\n\n[handlers]\nbootloader-custom-backend=\(folder)/backend.sh\n"
    try """
    [system]
    compatible=\(compatible)
    mountprefix=\(folder)/mnt
    \(backendLines)
    [keyring]
    path=\(certificate)

    [slot.rootfs.0]
    device=\(a.path)
    type=ext4
    bootname=A

    [slot.rootfs.1]
    device=\(b.path)
    type=ext4
    bootname=B
    """.write(toFile: "\(folder)/system.conf", atomically: true, encoding: .utf8)
    try """
    <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
     "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
    <busconfig>
      <type>system</type>
      <listen>unix:path=\(folder)/bus.sock</listen>
      <auth>EXTERNAL</auth>
      <policy context="default">
        <allow send_destination="*" eavesdrop="true"/>
        <allow eavesdrop="true"/>
        <allow own="*"/>
        <allow user="*"/>
      </policy>
    </busconfig>
    """.write(toFile: "\(folder)/dbus.conf", atomically: true, encoding: .utf8)
    // In the foreground, as a child of the test: a forked daemon would hold the test's pipes open.
    bus = try ChildProcess.spawn(
      "/usr/bin/dbus-daemon", ["--config-file=\(folder)/dbus.conf", "--nofork"], output: "\(folder)/bus.log")
    for _ in 0..<100 where !FileManager.default.fileExists(atPath: "\(folder)/bus.sock") {
      Thread.sleep(forTimeInterval: 0.05)
    }
    try startService(booted: "A")
  }

  deinit { stop() }

  private func startService(booted: String) throws {
    service = try ChildProcess.spawn(
      "/usr/bin/env",
      [
        "DBUS_SYSTEM_BUS_ADDRESS=\(busAddress)", "rauc", "service", "--conf=\(folder)/system.conf",
        "--mount=\(folder)/mnt", "--override-boot-slot=\(booted)",
      ], output: "\(folder)/service.log")
    // Ready once it answers on the bus.
    for _ in 0..<100 {
      if (try? status()) != nil { return }
      Thread.sleep(forTimeInterval: 0.1)
    }
    throw HarnessError.setup("rauc service did not answer on \(busAddress)")
  }

  /// A reboot: the service starts again as booted from the slot the bootloader picks; returns that slot.
  @discardableResult
  func powerCycle() throws -> String {
    if let service, service.isRunning {
      kill(service.processIdentifier, SIGTERM)
      service.waitUntilExit()
    }
    let slot = backend == .grub ? try grubBoot() : primary
    try startService(booted: slot)
    return slot
  }

  /// What RAUC's grub.cfg does at boot: the first slot of ORDER that is OK and not tried yet boots, each slot
  /// looked at is marked tried (RAUC's mark-good clears it); when none is left, the tried good ones are reset
  /// and the first good one boots.
  private func grubBoot() throws -> String {
    let env = try environment()
    let order = (env["ORDER"] ?? "A B").split(separator: " ").map(String.init)
    var tried: [String] = []
    for slot in order {
      tried.append("\(slot)_TRY=1")
      if env["\(slot)_OK"] == "1" && env["\(slot)_TRY"] == "0" {
        try BootStep.run(["grub-editenv", grubenv, "set"] + tried)
        return slot
      }
    }
    let good = order.filter { env["\($0)_OK"] == "1" }
    try BootStep.run(["grub-editenv", grubenv, "set"] + good.map { "\($0)_TRY=0" })
    return good.first ?? order.first ?? "A"
  }

  /// `rauc status` as JSON.
  func status() throws -> [String: Any] {
    let text = try BootStep.run([
      "env", "DBUS_SYSTEM_BUS_ADDRESS=\(busAddress)", "rauc", "status", "--output-format=json",
    ])
    return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
  }

  /// A signed bundle of an ext4 image holding `version`, for `compatible`.
  func bundle(version: String, compatible: String) throws -> (bundle: String, image: String) {
    let work = "\(folder)/bundle-\(version)"
    try FileManager.default.createDirectory(atPath: "\(work)/content", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: "\(work)/tree", withIntermediateDirectories: true)
    try "\(version)\n".write(toFile: "\(work)/tree/version", atomically: true, encoding: .utf8)
    try BootStep.run(["mkfs.ext4", "-q", "-F", "-d", "\(work)/tree", "\(work)/content/rootfs.ext4", "4M"])
    try """
    [update]
    compatible=\(compatible)
    version=\(version)

    [image.rootfs]
    filename=rootfs.ext4
    """.write(toFile: "\(work)/content/manifest.raucm", atomically: true, encoding: .utf8)
    let bundle = "\(folder)/rootfs-\(version).raucb"
    try BootStep.run([
      "rauc", "bundle", "--cert=\(certificate)", "--key=\(folder)/key.pem", "\(work)/content", bundle,
    ])
    return (bundle, "\(work)/content/rootfs.ext4")
  }

  /// Stops the service and the bus and detaches the slots.
  func stop() {
    if let service, service.isRunning {
      kill(service.processIdentifier, SIGTERM)
      service.waitUntilExit()
    }
    service = nil
    if let bus, bus.isRunning {
      kill(bus.processIdentifier, SIGTERM)
      bus.waitUntilExit()
    }
    bus = nil
    a.detach()
    b.detach()
  }
}
