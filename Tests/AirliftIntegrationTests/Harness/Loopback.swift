import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Loopback helpers for tests: free ports and readiness checks.
enum Loopback {
  /// A TCP port on 127.0.0.1 that was free a moment ago.
  static func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError.setup("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
        bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
      }
    }
    guard bound else { throw HarnessError.setup("bind() to a free port failed") }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  /// Whether something accepts TCP connections on 127.0.0.1:port.
  static func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
  }
}

enum HarnessError: Error, CustomStringConvertible {
  case setup(String)
  case timedOut(String)

  var description: String {
    switch self {
    case .setup(let what): return "test setup failed: \(what)"
    case .timedOut(let what): return "timed out waiting for \(what)"
    }
  }
}

/// Polls `condition` until it holds or `seconds` pass (a bound against
/// hanging, not a speed assertion).
func eventually(
  _ what: String, within seconds: Double = 60, _ condition: () async throws -> Bool
) async throws {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if (try? await condition()) == true { return }
    try await Task.sleep(for: .milliseconds(100))
  }
  if try await condition() { return }
  throw HarnessError.timedOut(what)
}
