import Foundation
import Logging

#if canImport(Glibc)
  import Glibc
#endif

/// The process groups of the commands an update runs (install scripts, tar,
/// Compose, the A/B slot commands), recorded in the agent's store while they
/// run. Each command gets a session and process group of its own, so what
/// it starts stays in that group. When the agent is killed its commands are
/// re-parented and keep going; the next start ends those groups before
/// anything else, so a rollback never races an install that is still
/// writing (see "What keeps a device safe" in the README on `KillMode`).
public final class ProcessLedger: Sendable {
  /// The ledger of the update the current task works for (set by the update worker).
  @TaskLocal static var current: ProcessLedger?

  let store: AgentStore
  let logger: Logger
  /// This boot of the machine: a group recorded in another boot is gone.
  let bootID: String
  /// Set in every command's environment (`AIRLIFT_AGENT_DATA`): a command the agent started and could not
  /// record before it was killed is still found by it.
  let marker: String

  static let markerName = "AIRLIFT_AGENT_DATA"

  init(store: AgentStore, marker: String, logger: Logger) {
    self.store = store
    self.marker = marker
    self.logger = logger
    bootID = Self.readBootID()
  }

  func started(_ pgid: Int32, command: String) {
    do {
      try store.recordProcessGroup(pgid, bootID: bootID, command: command)
    } catch {
      logger.error("could not record process group \(pgid) of \(command): \(error)")
    }
  }

  func ended(_ pgid: Int32) {
    try? store.forgetProcessGroup(pgid)
  }

  /// Ends the groups a previous run of the agent left running: SIGTERM to
  /// the group, `grace` for it to go, then SIGKILL; waits until no member
  /// is left. Returns what it ended, for the log and the tests.
  @discardableResult
  func settle(grace: Duration = .seconds(10)) async -> [String] {
    let groups: [(pgid: Int32, bootID: String, command: String)]
    do {
      groups = try store.processGroups()
    } catch {
      logger.critical("could not read the recorded handler processes: \(error)")
      return []
    }
    var settled: [String] = []
    // The recorded groups, and those of processes carrying this agent's marker (started, not yet recorded).
    var all = groups
    let own = Int32(getpgrp())
    for pgid in Self.groups(marked: "\(Self.markerName)=\(marker)")
    where pgid != own && !all.contains(where: { $0.pgid == pgid }) {
      all.append((pgid, bootID, "a command of an update"))
    }
    for group in all {
      defer { ended(group.pgid) }
      guard group.bootID == bootID, group.pgid > 1, group.pgid != own, Self.isAlive(group: group.pgid) else { continue }
      logger.warning(
        "process group \(group.pgid) (\(group.command)) was left running by the agent's previous run; ending it before anything else"
      )
      kill(-group.pgid, SIGTERM)
      if await !Self.waitUntilGone(group.pgid, within: grace) {
        kill(-group.pgid, SIGKILL)
        _ = await Self.waitUntilGone(group.pgid, within: .seconds(10))
      }
      settled.append(group.command)
    }
    return settled
  }

  /// The process groups of live processes whose environment holds `entry` (`NAME=VALUE`).
  public static func groups(marked entry: String) -> Set<Int32> {
    var found = Set<Int32>()
    let needle = Array(entry.utf8)
    for (pid, pgid) in processes() {
      guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
      if environ.split(separator: 0).contains(where: { Array($0) == needle }) { found.insert(pgid) }
    }
    return found
  }

  /// Live processes (zombies excluded) and their process groups, from /proc.
  private static func processes() -> [(pid: Int32, pgid: Int32)] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { entry in
      guard entry.first?.isNumber == true, let pid = Int32(entry),
        let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return nil }
      // After "pid (comm) ": state, ppid, pgrp.
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      guard fields.count > 2, fields[0] != "Z", fields[0] != "X", let pgid = Int32(fields[2]) else { return nil }
      return (pid, pgid)
    }
  }

  /// Whether any process of group `pgid` is alive (zombies waiting for a reaper do not count).
  public static func isAlive(group pgid: Int32) -> Bool {
    processes().contains { $0.pgid == pgid }
  }

  private static func waitUntilGone(_ pgid: Int32, within limit: Duration) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while isAlive(group: pgid) {
      guard clock.now < deadline else { return false }
      try? await Task.sleep(for: .milliseconds(50))
    }
    return true
  }

  private static func readBootID() -> String {
    let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
    return text?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
  }
}
