import Foundation

/// The TCP connections a process holds, read from `/proc` (no `ss` needed):
/// what shows that a refused transfer really closed its connection.
enum OpenConnections {
  /// How many established IPv4/IPv6 connections process `pid` has to `port` on the other end.
  static func established(pid: pid_t, remotePort: Int) -> Int {
    let inodes = socketInodes(pid: pid)
    guard !inodes.isEmpty else { return 0 }
    var count = 0
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
      guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
      for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        guard fields.count > 9, fields[3] == "01", inodes.contains(String(fields[9])),
          let portText = fields[2].split(separator: ":").last, Int(portText, radix: 16) == remotePort
        else { continue }
        count += 1
      }
    }
    return count
  }

  /// The inode numbers of the sockets among `pid`'s open descriptors.
  static func socketInodes(pid: pid_t) -> Set<String> {
    let folder = "/proc/\(pid)/fd"
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
    var inodes = Set<String>()
    for entry in entries {
      guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(entry)"),
        target.hasPrefix("socket:[")
      else { continue }
      inodes.insert(String(target.dropFirst("socket:[".count).dropLast()))
    }
    return inodes
  }
}
