import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Loopback helpers for tests: free ports and readiness checks.
enum Loopback {
  private static let handedOut = Mutex<Set<Int>>([])

  /// A TCP port on 127.0.0.1 that was free a moment ago. Chosen below the
  /// kernel's ephemeral range (32768+), so that the many outgoing
  /// connections of parallel tests cannot take it before its server binds.
  /// Never the same port twice in one run: parallel tests would otherwise
  /// pick the same free port before either binds it.
  static func freePort() throws -> Int {
    for _ in 0..<200 {
      let port = Int.random(in: 20_000..<32_000)
      guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
      if canBind(port) { return port }
    }
    throw HarnessError.setup("no free port in 20000-31999")
  }

  private static func canBind(_ port: Int) -> Bool {
    withLoopbackSocket(port) { fd, address, length in bind(fd, address, length) }
  }

  /// Whether something accepts TCP connections on 127.0.0.1:port.
  static func isListening(_ port: Int) -> Bool {
    withLoopbackSocket(port) { fd, address, length in connect(fd, address, length) }
  }

  /// Runs `call` on a fresh TCP socket and 127.0.0.1:port; true when it returns 0.
  private static func withLoopbackSocket(
    _ port: Int, _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32
  ) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        call(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
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
