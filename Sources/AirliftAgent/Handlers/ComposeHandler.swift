import AirliftCore
import Foundation
import Synchronization

/// The `compose` handler: updates the containerized apps a release lists,
/// each a Compose project named after the app. In order: fetch only the
/// images the engine lacks (verified against the ids in the signed
/// manifest) before anything stops; stop the apps that change or leave;
/// switch each to its new versioned folder; start them; `verify` waits
/// until their containers run (and are healthy); `commit` keeps the
/// previous version of each app and removes older ones; `rollback` starts
/// the previous versions again. Apps that do not change are never touched.
///
/// On disk, under `INSTALL/compose/<app>/`: `<version>/` (the unpacked
/// bundle), `current` and `previous` links, `package` (the release's
/// package); `INSTALL/compose/journal.json` lists what the update under
/// way changes, so a rollback after a crash knows what to undo.
public struct ComposeHandler: InstallHandler {
  public static let name = HandlerName.compose
  let config: ComposeConfig
  let engine: ComposeEngine
  /// The compose file each app runs from, inside its bundle (a flow's compose step); nil: the usual names.
  var composeFile: String?

  public init(config: ComposeConfig = ComposeConfig()) {
    self.config = config
    engine = ComposeEngine(config)
  }

  /// One app's move in an update: from a version (nil: new) to a version (nil: stopped for good).
  struct Change: Codable, Sendable, Equatable {
    var app: String
    var from: String?
    var to: String?
  }

  struct Journal: Codable, Sendable, Equatable {
    var deployment: String
    var package: String
    var changes: [Change]
  }

  // MARK: Fetch and install

  /// What an update does: the apps the release lists and the config
  /// enables, and each app that changes (a new version, or stopped for good
  /// because the release drops it or the config disables it).
  struct Plan {
    var wanted: [ReleaseApp]
    var changes: [Change]

    /// The apps that get a new version (their bundles and images are fetched).
    var arriving: [ReleaseApp] {
      wanted.filter { app in changes.contains { $0.app == app.name && $0.to != nil } }
    }
  }

  func plan(_ notice: DeploymentNotice, layout: Layout) throws -> Plan {
    let wanted = try Self.apps(of: notice).filter { config.apps?.contains($0.name) ?? true }
    let running = layout.installedApps()
    var changes = wanted.filter { running[$0.name] != $0.version }.map {
      Change(app: $0.name, from: running[$0.name], to: $0.version)
    }
    // Apps this package installed before that the release drops, or the config disables.
    for (name, version) in running.sorted(by: { $0.key < $1.key })
    where layout.package(of: name) == notice.release.package && !wanted.contains(where: { $0.name == name }) {
      changes.append(Change(app: name, from: version, to: nil))
    }
    return Plan(wanted: wanted, changes: changes)
  }

  /// Only the bundles of apps that change (and any asset no app names): an
  /// app the device already runs at the release's version costs no download.
  public func assetsNeeded(for notice: DeploymentNotice, installDirectory: String) -> Set<String>? {
    guard let apps = notice.manifest?.manifest.apps, !apps.isEmpty,
      let plan = try? plan(notice, layout: Layout(installDirectory))
    else { return nil }
    let appAssets = Set(apps.map(\.asset))
    return Set(notice.artifacts.map(\.name).filter { !appAssets.contains($0) }).union(plan.arriving.map(\.asset))
  }

  /// Step 1, in the download phase: unpacks each arriving app and makes sure
  /// the engine has its images (loads the missing ones from the bundle,
  /// pulls the pinned ones with their bytes reported), each checked against
  /// the signed ids. Nothing has stopped yet.
  public func prefetch(
    _ context: InstallContext, progress: @escaping @Sendable (PrefetchProgress) -> Void
  ) async throws {
    let layout = Layout(context.installDirectory)
    let tally = PullTally()
    for app in try plan(context.notice, layout: layout).arriving {
      let folder = try await unpack(app, context: context, layout: layout)
      try await ensureImages(app, in: folder) { reference, pull, final in
        let (done, total) = tally.add(pull, final: final)
        progress(
          PrefetchProgress(
            stage: final ? "pulled \(reference): \(pull.bytes) bytes" : "pulling \(reference)", bytes: done,
            total: total, final: final))
      }
    }
  }

  /// The bytes of the pulls of one prefetch: finished ones plus the one under way.
  private final class PullTally: Sendable {
    private let finished = Mutex<Int64>(0)

    func add(_ pull: ImagePullProgress, final: Bool) -> (done: Int64, total: Int64) {
      finished.withLock { finished in
        if final {
          finished += pull.bytes
          return (finished, finished)
        }
        return (finished + pull.bytes, finished + max(pull.total, pull.bytes))
      }
    }
  }

  public func install(_ context: InstallContext) async throws {
    let layout = Layout(context.installDirectory)
    let plan = try plan(context.notice, layout: layout)
    let changes = plan.changes
    let package = context.notice.release.package

    // 1. Fetch (again, if the download phase's prefetch did not run: each part is skipped when done).
    for app in plan.arriving {
      let folder = try await unpack(app, context: context, layout: layout)
      try await ensureImages(app, in: folder) { _, _, _ in }
    }

    // 2. The journal first, so that a crash from here on is rolled back.
    try layout.writeJournal(Journal(deployment: context.notice.deployment, package: package, changes: changes))
    // 3. Stop what changes or leaves.
    for change in changes {
      guard let from = change.from else { continue }
      try await engine.compose(project: change.app, directory: layout.folder(change.app, from), ["down"])
    }
    // 4. Switch each app to its new folder, and 5. start it.
    for change in changes {
      if let from = change.from { try layout.link(change.app, "previous", to: from) }
      if let to = change.to {
        try layout.link(change.app, "current", to: to)
        try package.write(toFile: layout.packageFile(change.app), atomically: true, encoding: .utf8)
        try layout.keepParameters(context.notice.parameters, app: change.app, version: to)
        try await engine.compose(
          project: change.app, directory: layout.folder(change.app, to), ["up", "-d"],
          parameters: context.notice.parameters)
      } else {
        try? FileManager.default.removeItem(atPath: layout.linkPath(change.app, "current"))
      }
    }
  }

  /// Unpacks an app's bundle into its versioned folder (staging, then
  /// rename), once per deployment: a marker in the work folder says it is done.
  private func unpack(_ app: ReleaseApp, context: InstallContext, layout: Layout) async throws -> String {
    let target = layout.folder(app.name, app.version)
    let marker = "\(context.workDirectory)/unpacked-\(app.name)-\(app.version)"
    if FileManager.default.fileExists(atPath: marker), FileManager.default.fileExists(atPath: target) { return target }
    guard let bundle = context.artifacts[app.asset] else {
      throw AgentError.bundle(reason: "app '\(app.name)' needs asset '\(app.asset)', which was not downloaded")
    }
    try FileManager.default.createDirectory(atPath: layout.appRoot(app.name), withIntermediateDirectories: true)
    let staging = "\(layout.appRoot(app.name))/.staging-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: staging) }
    _ = try await BundleArchive.unpack(bundle, into: staging, reserve: context.reservedSpace)
    if let composeFile {
      guard FileManager.default.fileExists(atPath: "\(staging)/\(composeFile)") else {
        throw AgentError.bundle(reason: "app '\(app.name)' has no \(composeFile) in its bundle")
      }
      try composeFile.write(
        toFile: "\(staging)/\(ComposeEngine.chosenFileMarker)", atomically: true, encoding: .utf8)
    }
    // The image ids this version runs, so a later commit knows which images only it used.
    try Data(Wire.encode(app.images.map(\.id))).write(
      to: URL(fileURLWithPath: "\(staging)/.airlift-images.json"), options: .atomic)
    try? FileManager.default.removeItem(atPath: target)
    try FileManager.default.moveItem(atPath: staging, toPath: target)
    try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: marker, contents: Data())
    return target
  }

  /// Checks every image archive in the bundle's `images/` against the ids
  /// in the signed manifest, loads the listed images the engine lacks (or
  /// pulls those pinned by digest), and checks that each reference the
  /// compose file uses names its listed id.
  private func ensureImages(
    _ app: ReleaseApp, in folder: String,
    pulling: @escaping @Sendable (_ reference: String, ImagePullProgress, _ final: Bool) -> Void
  ) async throws {
    let listed = Set(app.images.map(\.id))
    let imagesFolder = "\(folder)/images"
    let archives = ((try? FileManager.default.contentsOfDirectory(atPath: imagesFolder)) ?? []).sorted()
      .filter { $0.hasSuffix(".tar") }.map { "\(imagesFolder)/\($0)" }
    var held: [(archive: String, ids: [String])] = []
    for archive in archives {
      let images = try await engine.images(inArchive: archive)
      if let stray = images.first(where: { !listed.contains($0.id) }) {
        throw AgentError.bundle(
          reason: "app '\(app.name)': \(URL(fileURLWithPath: archive).lastPathComponent) holds image \(stray.id), "
            + "which the signed manifest does not list; refusing it")
      }
      held.append((archive, images.map(\.id)))
    }
    var missing = Set<String>()
    for image in app.images where await !engine.hasImage(image.id) { missing.insert(image.id) }
    for (archive, ids) in held where !missing.isDisjoint(with: ids) {
      try await engine.load(archive)
      missing.subtract(ids)
    }
    // Images pinned by digest come from their registry, through the engine: only missing layers travel.
    for image in app.images where missing.contains(image.id) && image.reference.contains("@sha256:") {
      let pulled = try await engine.pull(image.reference) { pulling(image.reference, $0, false) }
      pulling(image.reference, pulled, true)
    }
    for image in app.images {
      guard await engine.hasImage(image.id) else {
        throw AgentError.bundle(
          reason: "app '\(app.name)': image \(image.reference) (\(image.id)) is not on the device and not in its bundle"
        )
      }
      let resolved = await engine.imageID(of: image.reference)
      guard resolved == image.id else {
        throw AgentError.bundle(
          reason: "app '\(app.name)': \(image.reference) is image \(resolved ?? "none") on the device, "
            + "not \(image.id) as the signed manifest says")
      }
    }
  }

  // MARK: Verify, commit, roll back

  /// Waits until every container of each started app runs, and is healthy
  /// where the app defines a health check.
  public func verify(_ context: InstallContext) async throws {
    let layout = Layout(context.installDirectory)
    guard let journal = layout.readJournal() else { return }
    let timeout = config.verifyTimeout ?? 60
    let deadline = ContinuousClock.now + .seconds(timeout)
    for change in journal.changes where change.to != nil {
      var last = "no container started"
      while true {
        let containers = try await engine.containers(project: change.app)
        if let stopped = containers.first(where: { $0.status != "running" && $0.status != "created" }) {
          let log = await engine.lastLog(stopped.id)
          throw AgentError.command(
            role: "compose (\(change.app))",
            reason: "container \(stopped.name) is \(stopped.status) (exit code \(stopped.exitCode))"
              + (log.isEmpty ? "" : ": \(log)"))
        }
        if let sick = containers.first(where: { $0.health == "unhealthy" }) {
          throw AgentError.command(
            role: "compose (\(change.app))", reason: "container \(sick.name) failed its health check")
        }
        if !containers.isEmpty, containers.allSatisfy({ $0.status == "running" && $0.health != "starting" }) {
          break
        }
        last = containers.map { "\($0.name) \($0.status) \($0.health)" }.joined(separator: ", ")
        guard ContinuousClock.now < deadline else {
          throw AgentError.command(
            role: "compose (\(change.app))",
            reason: "not running and healthy within \(Int(timeout)) s (\(last.isEmpty ? "no container" : last))")
        }
        try await Task.sleep(for: .milliseconds(500))
      }
    }
  }

  /// Keeps the current and previous version of each changed app; removes
  /// older folders and the images only they used.
  public func commit(_ context: InstallContext) async throws {
    let layout = Layout(context.installDirectory)
    guard let journal = layout.readJournal() else { return }
    // Images any app's kept version runs stay, whichever app they came with.
    let kept = Set(
      layout.appNames().flatMap { app in
        ["current", "previous"].compactMap { layout.target(app, $0) }.flatMap { layout.imageIDs(app, $0) }
      })
    for change in journal.changes {
      let keep = Set(["current", "previous"].compactMap { layout.target(change.app, $0) })
      for version in layout.versions(of: change.app) where !keep.contains(version) {
        for id in layout.imageIDs(change.app, version) where !kept.contains(id) { await engine.removeImage(id) }
        try? FileManager.default.removeItem(atPath: layout.folder(change.app, version))
      }
    }
    layout.removeJournal()
  }

  /// Stops what the update started and starts each changed app's previous
  /// version again (also after a crash in the middle of the install).
  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    let layout = Layout(context.installDirectory)
    guard let journal = layout.readJournal(), journal.deployment == context.notice.deployment else {
      return .nothingToUndo
    }
    for change in journal.changes.reversed() {
      // Only a version that was switched to can have been started (a crash before the switch left the old one up).
      if let to = change.to, layout.target(change.app, "current") == to {
        try? await engine.compose(project: change.app, directory: layout.folder(change.app, to), ["down"])
      }
      if let from = change.from {
        try layout.link(change.app, "current", to: from)
        try journal.package.write(toFile: layout.packageFile(change.app), atomically: true, encoding: .utf8)
        try await engine.compose(
          project: change.app, directory: layout.folder(change.app, from), ["up", "-d"],
          parameters: layout.parameters(change.app, from))
      } else {
        try? FileManager.default.removeItem(atPath: layout.linkPath(change.app, "current"))
      }
    }
    layout.removeJournal()
    return journal.changes.isEmpty ? .nothingToUndo : .undone
  }

  /// Each app's running version, for check-ins: the fleet's inventory shows which app version runs where.
  public func inventory(installDirectory: String) -> [String: String] {
    Layout(installDirectory).installedApps()
  }

  /// Each installed app's state from its containers; an engine that does
  /// not answer leaves the app out (its version is still in the inventory).
  public func appStates(installDirectory: String) async -> [AppState] {
    var states: [AppState] = []
    for (name, version) in Layout(installDirectory).installedApps().sorted(by: { $0.key < $1.key }) {
      guard let containers = try? await engine.containers(project: name) else { continue }
      states.append(Self.state(of: name, version: version, containers: containers))
    }
    return states
  }

  /// An app is running when all its containers run (and are healthy where
  /// they have a health check); a stopped or failing container says why.
  static func state(of name: String, version: String, containers: [ComposeEngine.Container]) -> AppState {
    if containers.isEmpty { return AppState(name: name, version: version, state: .stopped, reason: "no container") }
    if let stopped = containers.first(where: { $0.status != "running" }) {
      return AppState(
        name: name, version: version, state: .stopped,
        reason: "container \(stopped.name) is \(stopped.status) (exit code \(stopped.exitCode))")
    }
    if let sick = containers.first(where: { $0.health == "unhealthy" }) {
      return AppState(
        name: name, version: version, state: .unhealthy, reason: "container \(sick.name) failed its health check")
    }
    if containers.contains(where: { $0.health == "starting" }) {
      return AppState(name: name, version: version, state: .starting)
    }
    return AppState(name: name, version: version, state: .running)
  }

  static func apps(of notice: DeploymentNotice) throws -> [ReleaseApp] {
    guard let apps = notice.manifest?.manifest.apps, !apps.isEmpty else {
      throw AgentError.bundle(reason: "the compose handler needs a signed manifest that lists the release's apps")
    }
    return apps
  }

  // MARK: Layout

  struct Layout {
    let root: String

    init(_ installDirectory: String) { root = "\(installDirectory)/compose" }

    func appRoot(_ app: String) -> String { "\(root)/\(app)" }
    func folder(_ app: String, _ version: String) -> String { "\(root)/\(app)/\(version)" }
    func linkPath(_ app: String, _ name: String) -> String { "\(root)/\(app)/\(name)" }
    func packageFile(_ app: String) -> String { "\(root)/\(app)/package" }
    var journalPath: String { "\(root)/journal.json" }

    func target(_ app: String, _ name: String) -> String? {
      try? FileManager.default.destinationOfSymbolicLink(atPath: linkPath(app, name))
    }

    func package(of app: String) -> String? {
      (try? String(contentsOfFile: packageFile(app), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func appNames() -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0 != "journal.json" }.sorted()
    }

    /// App → the version its `current` link names.
    func installedApps() -> [String: String] {
      appNames().reduce(into: [:]) { apps, name in
        if let version = target(name, "current") { apps[name] = version }
      }
    }

    func versions(of app: String) -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: appRoot(app))) ?? []).filter { name in
        var isFolder: ObjCBool = false
        return !name.hasPrefix(".") && !["current", "previous"].contains(name)
          && FileManager.default.fileExists(atPath: folder(app, name), isDirectory: &isFolder) && isFolder.boolValue
          && (try? FileManager.default.destinationOfSymbolicLink(atPath: folder(app, name))) == nil
      }
    }

    /// The image ids a kept version's bundle carries (from its archives' manifests, recorded at install).
    func imageIDs(_ app: String, _ version: String) -> [String] {
      guard let data = FileManager.default.contents(atPath: "\(folder(app, version))/.airlift-images.json"),
        let ids = try? JSONDecoder().decode([String].self, from: data)
      else { return [] }
      return ids
    }

    /// Points `app/name` at `version` atomically.
    func link(_ app: String, _ name: String, to version: String) throws {
      try AtomicLink.point(linkPath(app, name), to: version)
    }

    func writeJournal(_ journal: Journal) throws {
      try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
      try Data(Wire.encode(journal)).write(to: URL(fileURLWithPath: journalPath), options: .atomic)
    }

    func readJournal() -> Journal? {
      guard let data = FileManager.default.contents(atPath: journalPath) else { return nil }
      return try? JSONDecoder().decode(Journal.self, from: data)
    }

    func removeJournal() { try? FileManager.default.removeItem(atPath: journalPath) }
  }
}
