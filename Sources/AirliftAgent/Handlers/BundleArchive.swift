import AirliftCore
import Foundation
import Subprocess
import SystemPackage

/// Unpacks release bundles (tar, gzip allowed) safely: entries with absolute
/// paths or `..` are refused from the listing before anything is written,
/// and links that point outside the bundle are refused after unpacking,
/// before any of its content is used.
enum BundleArchive {
  /// Checks every entry's name, unpacks, then checks every link's target.
  static func unpack(_ bundle: String, into unpacked: String) async throws -> String {
    let listing = try await run(
      .name("tar"), arguments: ["-tf", bundle], output: .string(limit: 4 << 20), error: .string(limit: 4096))
    let names = listing.standardOutput
    guard listing.terminationStatus.isSuccess else {
      throw AgentError.bundle(
        reason: "not a tar archive (tar: \(lastLine(listing.standardError) ?? "no message"))")
    }
    for name in names.split(separator: "\n") {
      if name.hasPrefix("/") || name.split(separator: "/").contains("..") {
        throw AgentError.bundle(reason: "entry '\(name)' points outside the bundle; refusing to unpack it")
      }
    }
    try? FileManager.default.removeItem(atPath: unpacked)
    try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
    let tar = try await run(
      .name("tar"), arguments: ["-xf", bundle, "-C", unpacked, "--no-same-owner"],
      output: .discarded, error: .string(limit: 4096))
    guard tar.terminationStatus.isSuccess else {
      throw AgentError.bundle(reason: "could not unpack it (tar: \(lastLine(tar.standardError) ?? "no message"))")
    }
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
        try? FileManager.default.removeItem(atPath: unpacked)
        throw AgentError.bundle(reason: "link '\(relative)' points outside the bundle (to \(target)); refusing it")
      }
    }
    return unpacked
  }

  static func lastLine(_ text: String?) -> String? {
    text?.split(whereSeparator: \.isNewline).last.map(String.init)
  }
}
