import AirliftCore
import Foundation

/// Unpacks release bundles (tar, gzip allowed) safely: entries with absolute
/// paths or `..` are refused from the listing before anything is written,
/// the expanded size must fit the free space (less the reserve) before
/// anything is written, links that point outside the bundle are refused
/// after unpacking, before any of its content is used, and whatever fails
/// leaves no partial output behind.
enum BundleArchive {
  /// Checks every entry's name and the expanded size, unpacks, then checks every link's target.
  static func unpack(_ bundle: String, into unpacked: String, reserve: Int64 = 0) async throws -> String {
    let tar = LocalCommand(role: "tar", argv: ["tar"])
    let listing = try await tar.run(["-tf", bundle], timeout: nil, outputLimit: 8 << 20)
    guard listing.succeeded else {
      throw AgentError.bundle(
        reason: "not a tar archive (tar: \(listing.errors.isEmpty ? "no message" : listing.errors))")
    }
    for name in listing.standardOutput.split(separator: "\n") {
      if name.hasPrefix("/") || name.split(separator: "/").contains("..") {
        throw AgentError.bundle(reason: "entry '\(name)' points outside the bundle; refusing to unpack it")
      }
    }
    try? FileManager.default.removeItem(atPath: unpacked)
    try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
    do {
      try await checkSpace(bundle, into: unpacked, reserve: reserve)
      let extract = try await tar.run(["-xf", bundle, "-C", unpacked, "--no-same-owner"], timeout: nil)
      guard extract.succeeded else {
        throw AgentError.bundle(
          reason:
            "could not unpack it (tar \(extract.status): \(extract.errors.isEmpty ? "no message" : extract.errors))")
      }
      try checkLinks(in: unpacked)
    } catch {
      try? FileManager.default.removeItem(atPath: unpacked)
      throw error
    }
    return unpacked
  }

  /// Refuses a bundle whose entries add up to more than the free space of
  /// `unpacked`'s file system less `reserve` (a small archive can expand
  /// without bound).
  static func checkSpace(_ bundle: String, into unpacked: String, reserve: Int64) async throws {
    let verbose = try await LocalCommand(role: "tar", argv: ["tar"]).run(
      ["--numeric-owner", "-tvf", bundle], timeout: nil, outputLimit: 32 << 20)
    guard verbose.succeeded else {
      throw AgentError.bundle(reason: "cannot list it (tar: \(verbose.errors.isEmpty ? "no message" : verbose.errors))")
    }
    let needed = expandedSize(verboseListing: verbose.standardOutput)
    let attributes = try? FileManager.default.attributesOfFileSystem(forPath: unpacked)
    guard let free = (attributes?[.systemFreeSize] as? NSNumber)?.int64Value else { return }
    guard needed <= free - reserve else {
      throw AgentError.notEnoughSpace(
        path: unpacked, needed: needed, free: free, reserved: reserve, what: "unpacking the bundle")
    }
  }

  /// The bytes a `tar -tv --numeric-owner` listing's entries take once
  /// written: each size (the third field) rounded up to 4 KiB blocks, plus
  /// one block per entry. Saturates instead of overflowing.
  static func expandedSize(verboseListing text: String) -> Int64 {
    var total: Int64 = 0
    for line in text.split(whereSeparator: \.isNewline) {
      let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
      let size = fields.count > 2 ? max(Int64(fields[2]) ?? 0, 0) : 0
      let blocks = size / 4096 + (size % 4096 == 0 ? 0 : 1) + 1
      let (bytes, overflow) = blocks.multipliedReportingOverflow(by: 4096)
      let (sum, overflowed) = total.addingReportingOverflow(bytes)
      if overflow || overflowed { return .max }
      total = sum
    }
    return total
  }

  /// Refuses links that resolve outside `unpacked`.
  private static func checkLinks(in unpacked: String) throws {
    let root = URL(fileURLWithPath: unpacked).standardizedFileURL.path
    let walker = FileManager.default.enumerator(atPath: unpacked)
    while let relative = walker?.nextObject() as? String {
      let path = "\(unpacked)/\(relative)"
      guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { continue }
      let base = URL(fileURLWithPath: path).deletingLastPathComponent()
      let resolved =
        target.hasPrefix("/")
        ? URL(fileURLWithPath: target).standardizedFileURL.path
        : base.appendingPathComponent(target).standardizedFileURL.path
      guard resolved == root || resolved.hasPrefix(root + "/") else {
        throw AgentError.bundle(reason: "link '\(relative)' points outside the bundle (to \(target)); refusing it")
      }
    }
  }

  static func lastLine(_ text: String?) -> String? {
    text?.split(whereSeparator: \.isNewline).last.map(String.init)
  }
}
