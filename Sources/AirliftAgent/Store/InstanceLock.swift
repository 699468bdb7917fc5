import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One agent per data directory: `agent.lock` held with `flock` while the
/// agent runs. Two agents on one directory would both carry out the same
/// update and take turns kicking each other off the broker under one client
/// id. The kernel drops the lock when the process ends, however it ends.
final class InstanceLock: Sendable {
  private let descriptor: Int32

  /// Takes the lock, waiting up to `patience` for an agent that is still shutting down (a restart), or says
  /// which process holds it.
  static func acquire(dataDirectory: String, patience: Duration = .seconds(10)) async throws -> InstanceLock {
    let deadline = ContinuousClock.now + patience
    while true {
      do {
        return try InstanceLock(dataDirectory: dataDirectory)
      } catch AgentError.alreadyRunning where ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(100))
      }
    }
  }

  /// Takes the lock, or says which process holds it.
  init(dataDirectory: String) throws {
    let path = "\(dataDirectory)/agent.lock"
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
      throw AgentError.storage(path: path, reason: String(cString: strerror(errno)))
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)
      close(descriptor)
      throw AgentError.alreadyRunning(dataDirectory: dataDirectory, pid: holder.flatMap(Int32.init))
    }
    let pid = Array("\(getpid())\n".utf8)
    _ = ftruncate(descriptor, 0)
    _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    self.descriptor = descriptor
  }

  deinit { close(descriptor) }
}
