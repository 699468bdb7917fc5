import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Symlinks switched with one rename(2), so a reader sees the old target or
/// the new one, never none: the `current`/`previous` links of the
/// `directory` and `compose` handlers.
enum AtomicLink {
  static func point(_ link: String, to destination: String) throws {
    let temporary = "\(link).new-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: destination)
    guard rename(temporary, link) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(atPath: temporary)
      throw AgentError.bundle(reason: "could not switch \(link) to \(destination): \(reason)")
    }
  }
}
