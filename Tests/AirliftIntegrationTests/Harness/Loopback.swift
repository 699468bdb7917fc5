import Foundation
import NIOCore
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

/// Every deadline the tests wait with is multiplied by `AIRLIFT_TEST_TIME_SCALE` (1 to 20, default 1): a slower
/// machine raises the one setting instead of editing tests.
let testTimeScale: Double = {
  guard let text = ProcessInfo.processInfo.environment["AIRLIFT_TEST_TIME_SCALE"], let scale = Double(text),
    scale.isFinite
  else { return 1 }
  return min(max(scale, 1), 20)
}()

/// How long a test's own HTTP request may take (times `testTimeScale`): a bound against a hang, not a speed
/// assertion; a loaded two-core machine has answered simple requests in more than 10 s.
let requestTimeout = TimeAmount.seconds(Int64(60 * testTimeScale))

/// Polls `condition` until it holds or `seconds` (times `testTimeScale`) pass: a bound against hanging, not a
/// speed assertion.
func eventually(
  _ what: String, within seconds: Double = 60, _ condition: () async throws -> Bool
) async throws {
  let deadline = Date().addingTimeInterval(seconds * testTimeScale)
  while Date() < deadline {
    if (try? await condition()) == true { return }
    try await Task.sleep(for: .milliseconds(100))
  }
  if try await condition() { return }
  throw HarnessError.timedOut(what)
}

/// A raw TCP connection to 127.0.0.1 from a chosen loopback source address,
/// for tests that open sockets and then do nothing with them.
final class IdleSocket {
  let fd: Int32

  /// Connects to 127.0.0.1:`port` from `source` (any 127.x.y.z address works on Linux).
  init(port: Int, source: String) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError.setup("socket() failed") }
    var local = sockaddr_in()
    local.sin_family = sa_family_t(AF_INET)
    local.sin_addr.s_addr = inet_addr(source)
    var remote = sockaddr_in()
    remote.sin_family = sa_family_t(AF_INET)
    remote.sin_addr.s_addr = inet_addr("127.0.0.1")
    remote.sin_port = UInt16(port).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &local) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    let connected = withUnsafePointer(to: &remote) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
    }
    guard bound == 0, connected == 0 else {
      close(fd)
      throw HarnessError.setup("cannot connect from \(source) to port \(port)")
    }
  }

  deinit { close(fd) }

  func send(_ bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
  }

  /// Whether the server has closed the connection (a read returns end of file or an error), without waiting.
  var isClosedByServer: Bool {
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&poller, 1, 0) > 0 else { return false }
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) <= 0
  }
}
