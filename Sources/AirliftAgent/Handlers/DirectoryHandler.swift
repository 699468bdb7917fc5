import AirliftCore
import Foundation

/// The `directory` handler: unpacks the bundle into
/// `INSTALL/<package>/versions/<version>` and switches the
/// `INSTALL/<package>/current` symlink to it atomically (rename), so a
/// reader sees the old or the new version, never a mix. The previous
/// version stays until the next success; rollback switches back to it.
public struct DirectoryHandler: InstallHandler {
  public static let name = HandlerName.directory

  public init() {}

  public func install(_ context: InstallContext) async throws {
    let bundle = try context.singleArtifact(for: Self.name)
    let layout = Layout(context)
    try FileManager.default.createDirectory(atPath: layout.versions, withIntermediateDirectories: true)
    // Unpack next to the final place, then rename: a half-unpacked version never has its real name.
    let staging = "\(layout.versions)/.staging-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: staging) }
    do {
      _ = try await BundleArchive.unpack(bundle, into: staging, reserve: context.reservedSpace)
    } catch {
      // A first install that failed leaves no empty folders behind.
      try? FileManager.default.removeItem(atPath: staging)
      for folder in [layout.versions, layout.root] {
        if (try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty == true {
          try? FileManager.default.removeItem(atPath: folder)
        }
      }
      throw error
    }
    try? FileManager.default.removeItem(atPath: layout.target)
    try FileManager.default.moveItem(atPath: staging, toPath: layout.target)

    let previous = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.current)
    try switchLink(layout.current, to: "versions/\(context.notice.release.version)")
    if let previous, previous != "versions/\(context.notice.release.version)" {
      try switchLink(layout.previous, to: previous)
    }
    pruneVersions(layout)
  }

  /// The installed tree as a tar, names sorted: the files' bytes lie in it
  /// as in the release's own tar, so content-defined chunks of any file
  /// larger than a chunk or two are found again, whatever order the
  /// release's tar had.
  public func deltaSeed(package: String, installDirectory: String, into path: String) async -> Bool {
    let layout = Layout(root: "\(installDirectory)/\(Names.packageFileName(package))", version: nil)
    guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.current) else { return false }
    let outcome = try? await LocalCommand(role: "tar", argv: ["tar"]).run(
      ["--sort=name", "--numeric-owner", "-cf", path, "-C", "\(layout.root)/\(target)", "."], timeout: 600)
    guard outcome?.succeeded == true else {
      try? FileManager.default.removeItem(atPath: path)
      return false
    }
    return true
  }

  /// Switches `current` back to the previous version, when this release
  /// is the one `current` points at (an install that failed before its
  /// switch left nothing to undo).
  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    let layout = Layout(context)
    guard let current = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.current),
      current == "versions/\(context.notice.release.version)",
      let previous = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.previous), previous != current
    else { return .nothingToUndo }
    try switchLink(layout.current, to: previous)
    return .undone
  }

  /// Swaps `current` and `previous`: the operator's rollback, no download.
  public func rollBackToPrevious(package: String, installDirectory: String) async throws -> RollbackOutcome {
    let layout = Layout(root: "\(installDirectory)/\(Names.packageFileName(package))", version: nil)
    guard let current = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.current),
      let previous = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.previous), previous != current,
      FileManager.default.fileExists(atPath: "\(layout.root)/\(previous)")
    else {
      throw AgentError.nothingToRollBack(package: package, reason: "no previous version is kept in \(layout.root)")
    }
    try switchLink(layout.current, to: previous)
    try switchLink(layout.previous, to: current)
    return .undone
  }

  private struct Layout {
    let root: String
    let versions: String
    let target: String
    let current: String
    let previous: String

    init(_ context: InstallContext) {
      self.init(
        root: "\(context.installDirectory)/\(Names.packageFileName(context.notice.release.package))",
        version: context.notice.release.version)
    }

    init(root: String, version: String?) {
      self.root = root
      versions = "\(root)/versions"
      target = "\(versions)/\(version ?? "")"
      current = "\(root)/current"
      previous = "\(root)/previous"
    }
  }

  private func switchLink(_ link: String, to destination: String) throws {
    try AtomicLink.point(link, to: destination)
  }

  /// Keeps the current and the previous version, removes older ones.
  private func pruneVersions(_ layout: Layout) {
    let keep = Set(
      [layout.current, layout.previous].compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: $0) }
        .map { URL(fileURLWithPath: $0).lastPathComponent })
    for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.versions)) ?? []
    where !keep.contains(name) && !name.hasPrefix(".staging-") {
      try? FileManager.default.removeItem(atPath: "\(layout.versions)/\(name)")
    }
  }
}
