import Foundation

/// What the `ab-slot` handler checks about a slot before it writes a byte:
/// not mounted (that would be the running system, or someone's data), and
/// large enough for the image.
struct SlotDevice {
  /// The slot as configured (a block device, a symlink to one, or an image file).
  let path: String

  /// The real path: `/dev/disk/by-partlabel/rootfs_b` names `/dev/mmcblk0p3`.
  var resolved: String { URL(fileURLWithPath: path).resolvingSymlinksInPath().path }

  var isBlockDevice: Bool {
    (try? FileManager.default.attributesOfItem(atPath: resolved)[.type] as? FileAttributeType) == .typeBlockSpecial
  }

  /// Where the slot is mounted, from a mount table in /proc/self/mounts' form; nil when it is not.
  func mountPoint(in table: String) -> String? {
    let names: Set<String> = [path, resolved]
    for line in table.split(separator: "\n") {
      let fields = line.split(separator: " ")
      guard fields.count >= 2, names.contains(Self.unescape(fields[0])) else { continue }
      return Self.unescape(fields[1])
    }
    return nil
  }

  /// The bytes a block device holds (nil for an image file, which grows as it is written).
  func capacity() throws -> Int64? {
    guard isBlockDevice else { return nil }
    guard let handle = FileHandle(forReadingAtPath: resolved) else {
      throw AgentError.slot(reason: "cannot open \(path) to read its size")
    }
    defer { try? handle.close() }
    return Int64(try handle.seekToEnd())
  }

  /// Refuses a slot that is mounted or smaller than `imageSize` bytes, saying which and what to do.
  func checkWritable(imageSize: Int64, slot name: String, mounts: String? = nil) throws {
    let table = mounts ?? (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
    if let point = mountPoint(in: table) {
      throw AgentError.slot(
        reason:
          "slot '\(name)' (\(path)) is mounted at \(point): the agent writes only an unmounted inactive slot; unmount it, or fix abSlot.slots"
      )
    }
    if let capacity = try capacity(), capacity < imageSize {
      throw AgentError.slot(
        reason:
          "slot '\(name)' (\(path)) holds \(capacity) bytes, the image has \(imageSize): it does not fit, nothing was written"
      )
    }
  }

  /// Mount tables escape spaces, tabs, newlines and backslashes as octal (`\040`).
  static func unescape(_ field: Substring) -> String {
    guard field.contains("\\") else { return String(field) }
    var out: [UInt8] = []
    let bytes = Array(field.utf8)
    var index = 0
    while index < bytes.count {
      if bytes[index] == UInt8(ascii: "\\"), index + 3 < bytes.count,
        let value = UInt8(String(decoding: bytes[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
      {
        out.append(value)
        index += 4
      } else {
        out.append(bytes[index])
        index += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
