import AirliftCore
import AirliftCrypto
import AirliftTesting
import AsyncHTTPClient
import Foundation
import GRDB
import Logging
import Synchronization

@testable import AirliftAgent

/// An install handler that does what a test scripts, records each call, and
/// hangs (until cancelled) where a test needs a stage that never ends.
final class ScriptedHandler: InstallHandler {
  static let name = HandlerName.script

  enum Outcome: Sendable {
    case succeed
    case fail(String)
    /// Never finishes: only a timeout (cancellation) ends it.
    case hang
  }

  struct Script: Sendable {
    /// The prefetch (the download phase) fails this many times with a retryable error, then succeeds.
    var downloadFailures = 0
    var download: Outcome = .succeed
    var install: Outcome = .succeed
    var needsReboot = false
    var verify: Outcome = .succeed
    var rollback: RollbackOutcome = .undone
  }

  let script: Mutex<Script>
  private let log = Mutex<[String]>([])
  private let (announced, announce) = AsyncStream.makeStream(of: String.self)

  init(_ script: Script = Script()) { self.script = Mutex(script) }

  /// The calls so far, in order ("prefetch", "install", "verify", "commit", "rollback", "reboot").
  var calls: [String] { log.withLock { $0 } }

  /// Returns once `call` has been made (at once when it already was).
  func waitFor(_ call: String) async {
    if calls.contains(call) { return }
    for await made in announced where made == call { return }
  }

  private func record(_ call: String) {
    log.withLock { $0.append(call) }
    announce.yield(call)
  }

  private func perform(_ outcome: Outcome) async throws {
    switch outcome {
    case .succeed: return
    case .fail(let reason): throw AgentError.command(role: "the test handler", reason: reason)
    case .hang:
      let (never, keep) = AsyncStream.makeStream(of: Void.self)
      for await _ in never {}
      keep.finish()
      throw CancellationError()
    }
  }

  var needsReboot: Bool { script.withLock { $0.needsReboot } }

  /// Downloads nothing itself: the download phase is the prefetch alone.
  func assetsNeeded(for notice: DeploymentNotice, installDirectory: String) -> Set<String>? { [] }

  func prefetch(_ context: InstallContext, progress: @escaping @Sendable (PrefetchProgress) -> Void) async throws {
    record("prefetch")
    let fails = script.withLock { script -> Bool in
      guard script.downloadFailures > 0 else { return false }
      script.downloadFailures -= 1
      return true
    }
    if fails { throw AgentError.download(url: "test://asset", reason: "connection reset", retryable: true) }
    try await perform(script.withLock { $0.download })
  }

  func install(_ context: InstallContext) async throws {
    record("install")
    try await perform(script.withLock { $0.install })
  }

  func verify(_ context: InstallContext) async throws {
    record("verify")
    try await perform(script.withLock { $0.verify })
  }

  func commit(_ context: InstallContext) async throws { record("commit") }

  func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    record("rollback")
    return script.withLock { $0.rollback }
  }

  func reboot() async throws { record("reboot") }
}

/// One device's update worker on a real SQLite file in a scratch folder,
/// a scripted handler and a manual clock: a test moves time itself and
/// reads what the worker stored and queued.
final class WorkerRig: Sendable {
  /// Friday 4 December 2026, 12:00 UTC: where the rig's wall clock starts.
  static let start = Date(timeIntervalSince1970: 1_796_385_600)

  let directory: String
  let clock = ManualClock()
  /// The worker's time: `clock`, with a wall clock that starts at `start` and moves with it.
  let time: AgentClock
  let handler: ScriptedHandler
  let config: AgentConfig
  let store: AgentStore
  let events = EventHub()
  private let key: ReleaseSigningKey
  private let http = HTTPClient(eventLoopGroupProvider: .singleton)
  private let running = Mutex<Task<Void, Never>?>(nil)
  private let worker = Mutex<UpdateWorker?>(nil)
  /// Reboots asked for.
  let reboots = Mutex(0)
  /// Yields each time the worker says something changed (an update ended, or its state could not be stored).
  let changes: AsyncStream<Void>
  private let changed: AsyncStream<Void>.Continuation

  init(_ script: ScriptedHandler.Script = .init(), configure: (inout AgentConfig) -> Void = { _ in }) throws {
    directory =
      FileManager.default.temporaryDirectory.appendingPathComponent("airlift-worker-\(UUID().uuidString)")
      .path
    key = try ReleaseSigningKey.generate()
    let keyFile = "\(directory)/release.pub"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try key.publicKey.pem.write(toFile: keyFile, atomically: true, encoding: .utf8)
    var config = AgentConfig(
      deviceID: "worker-1", brokerURL: "mqtts://127.0.0.1:1", controllerURL: "https://127.0.0.1:1",
      caFile: "", certificate: "", key: "", dataDirectory: "\(directory)/data", installDirectory: "\(directory)/apps")
    config.trustedKeys = [keyFile]
    config.retryBaseDelay = 5
    config.retryMaxDelay = 300
    config.maxAttempts = 10
    configure(&config)
    self.config = config
    handler = ScriptedHandler(script)
    (changes, changed) = AsyncStream.makeStream()
    time = .following(clock, from: Self.start)
    store = try AgentStore(path: "\(directory)/agent.sqlite")
  }

  deinit {
    try? http.syncShutdown()
    try? FileManager.default.removeItem(atPath: directory)
  }

  /// A signed notice for `version` of package `app` (the handler downloads nothing: its asset is named only).
  func notice(
    _ deployment: String = "d-1", version: String = "1.0.0", expires: Date? = nil,
    timeouts: UpdateTimeouts = .init(download: 600, install: 600)
  ) throws -> DeploymentNotice {
    let asset = ArtifactRef(
      name: "app.tar", url: "https://127.0.0.1:1/app.tar", size: 1, sha256: String(repeating: "0", count: 64))
    let expiry = expires ?? Self.start.addingTimeInterval(365 * 86_400)
    let manifest = ReleaseManifest(
      package: "app", version: version, handler: ScriptedHandler.name,
      expires: expiry.formatted(.iso8601), assets: [.init(name: asset.name, size: asset.size, sha256: asset.sha256)])
    var notice = DeploymentNotice(
      deployment: deployment, release: ReleaseRef(package: "app", version: version), handler: ScriptedHandler.name,
      artifacts: [asset], timeouts: timeouts)
    notice.manifest = try key.sign(manifest)
    return notice
  }

  /// Starts a worker (a new agent process, as far as the store can tell) and returns it.
  @discardableResult
  func start() -> UpdateWorker {
    let outbox = Outbox(store: store, logger: Logger(label: "test.outbox"), clock: clock) { _ in .stopped }
    let worker = UpdateWorker(
      deviceID: try! DeviceID(config.deviceID), store: store,
      downloader: ArtifactDownloader(client: http, directory: "\(config.dataDirectory)/downloads"),
      handlers: InstallHandlers([handler]), config: config, outbox: outbox, events: events,
      logger: Logger(label: "test.worker"), clock: time, jitter: .none,
      onChange: { [changed] in changed.yield() }, onReboot: { [weak self] in self?.reboots.withLock { $0 += 1 } })
    self.worker.withLock { $0 = worker }
    running.withLock { $0 = Task { await worker.run() } }
    return worker
  }

  /// Stops the worker as a killed agent stops: wherever it is.
  func stop() async {
    let task = running.withLock { task -> Task<Void, Never>? in
      defer { task = nil }
      return task
    }
    task?.cancel()
    await task?.value
  }

  /// Waits until `count` tasks sleep on the clock; what they have left to wait, shortest first.
  func sleeps(_ count: Int = 1) async -> [Duration] {
    await clock.waitForSleepers(count)
    return clock.pending
  }

  /// Waits for the next sleep and ends it.
  func passNextWait() async {
    if let wait = await sleeps().first { clock.advance(by: wait) }
  }

  /// The event that ends deployment `key`: the first whose state is final and stored as finished (a
  /// rollback reports `Failed` first, then `RolledBack`).
  func end(_ events: AsyncStream<DeviceUpdateEvent>, of key: String = "d-1") async -> DeviceUpdateEvent? {
    await events.first { event in
      guard event.deployment == key, event.state.isTerminal, let phase = try? stored(key)?.phase else { return false }
      return phase.isFinished && phase.reported == event.state
    }
  }

  /// What is stored for deployment `key`.
  func stored(_ key: String = "d-1") throws -> UpdateProgress? { try store.update(key)?.progress }

  /// The reports queued for the controller, oldest first.
  func queuedReports() throws -> [StatusReport] {
    try store.db.read { db in
      try Row.fetchAll(db, sql: "SELECT payload FROM outbox ORDER BY id").compactMap {
        try? Wire.decode(StatusReport.self, from: [UInt8]($0["payload"] as Data), topic: "test")
      }
    }
  }

  /// The states the queued reports carry, in order, without repeats of the same state in a row (progress).
  func reportedStates() throws -> [DeviceState] {
    try queuedReports().map(\.state).reduce(into: []) { states, state in
      if states.last != state { states.append(state) }
    }
  }
}

/// Waits on a worker's events instead of the clock: what a test asserts on happened.
extension AsyncStream where Element == DeviceUpdateEvent {
  /// The first event (from now) that satisfies `match`.
  func first(where match: (DeviceUpdateEvent) -> Bool) async -> DeviceUpdateEvent? {
    for await event in self where match(event) { return event }
    return nil
  }
}
