import Foundation
import Testing

@testable import AirliftAgent

/// What the ab-slot handler checks before it writes a slot, and how it reads what booted.
@Suite("Slot checks and the kernel command line")
struct SlotDeviceTests {
  @Test("a slot named in the mount table, by its path or where its symlink leads, is mounted; octal escapes read")
  func mounted() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slot-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let target = "\(folder)/mmcblk0p3"
    _ = FileManager.default.createFile(atPath: target, contents: nil)
    try FileManager.default.createSymbolicLink(atPath: "\(folder)/rootfs_b", withDestinationPath: target)
    let table = """
      /dev/mmcblk0p2 / ext4 rw,relatime 0 0
      \(target) /mnt/my\\040data ext4 ro 0 0
      """
    #expect(SlotDevice(path: "\(folder)/rootfs_b").mountPoint(in: table) == "/mnt/my data")
    #expect(SlotDevice(path: "/dev/mmcblk0p2").mountPoint(in: table) == "/")
    #expect(SlotDevice(path: "/dev/mmcblk0p4").mountPoint(in: table) == nil)
    do {
      try SlotDevice(path: "/dev/mmcblk0p2").checkWritable(imageSize: 10, slot: "a", mounts: table)
      Issue.record("a mounted slot was accepted")
    } catch {
      #expect("\(error)".contains("slot 'a' (/dev/mmcblk0p2) is mounted at /"))
    }
    // An image file has no fixed size: any image fits.
    try SlotDevice(path: target).checkWritable(imageSize: 1 << 30, slot: "b", mounts: "")
  }

  @Test("the booted slot is the airlift.slot= word of the kernel command line")
  func commandLine() {
    #expect(slotInCommandLine("console=ttyS0 root=/dev/mmcblk0p3 airlift.slot=b rootwait\n") == "b")
    #expect(slotInCommandLine("airlift.slot=a") == "a")
    #expect(slotInCommandLine("console=ttyS0 rauc.slot=A") == nil)
    #expect(slotInCommandLine("airlift.slot= quiet") == nil)
  }
}
