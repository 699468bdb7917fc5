import AirliftCore
import Foundation
import NIOCore

/// The download phase: the assets the handler needs, then what the handler
/// fetches itself (a compose app's images), all reported as `Downloading`
/// with bytes, and bounded by the deployment's download timeout.
extension UpdateWorker {
  func download(_ notice: DeploymentNotice, attempt: Int) async -> UpdateEvent? {
    let deadline =
      downloadDeadline[notice.deployment]
      ?? (clock.now + Limits.duration(seconds: notice.timeouts.download, in: Limits.stageTimeout))
    downloadDeadline[notice.deployment] = deadline
    let tally =
      tallies[notice.deployment]
      ?? {
        let stored = try? store.transferTally(deployment: notice.deployment, round: notice.round ?? 1)
        return TransferTally(fetched: stored?.fetched ?? 0, reused: stored?.reused ?? 0)
      }()
    tallies[notice.deployment] = tally
    let artifacts = neededArtifacts(notice)
    let total = artifacts.totalSize
    var before: Int64 = 0
    do {
      for artifact in artifacts {
        _ = try await fetch(
          artifact, of: notice, before: before, total: total, attempt: attempt, deadline: deadline, tally: tally)
        before += artifact.size
      }
      try await prefetch(notice, downloaded: total, attempt: attempt, deadline: deadline)
      return .downloadSucceeded
    } catch is CancellationError {
      return nil
    } catch let error as AgentError {
      if Task.isCancelled { return nil }
      return .downloadFailed(reason: error.description, retryable: error.isRetryable)
    } catch {
      if Task.isCancelled { return nil }
      return .downloadFailed(reason: "\(error)", retryable: false)
    }
  }

  /// The artifacts this device downloads: what the handler needs (a compose
  /// device skips the bundles of apps it already runs), else all.
  func neededArtifacts(_ notice: DeploymentNotice) -> [ArtifactRef] {
    guard let handler = try? handler(notice),
      let needed = handler.assetsNeeded(for: notice, installDirectory: config.installDirectory)
    else { return notice.artifacts }
    return notice.artifacts.filter { needed.contains($0.name) }
  }

  /// The handler's own fetching (images through the engine), after the
  /// assets: its bytes continue the download's count.
  private func prefetch(
    _ notice: DeploymentNotice, downloaded: Int64, attempt: Int, deadline: Duration
  ) async throws {
    let handler = try handler(notice)
    let context = try context(notice)
    try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
    let report = progressReporter(notice, attempt: attempt)
    let remaining = deadline - clock.now
    guard remaining > .zero else {
      throw AgentError.timedOut(stage: "the download", seconds: notice.timeouts.download, last: "none")
    }
    do {
      try await clock.withTimeout(remaining) {
        try await handler.prefetch(context) { progress in
          report(downloaded + progress.bytes, downloaded + progress.total, progress.stage, progress.final)
        }
      }
    } catch is CancellationError where !Task.isCancelled {
      throw AgentError.timedOut(
        stage: "the download (\(type(of: handler).name) fetching images)", seconds: notice.timeouts.download,
        last: "none")
    }
  }

  private func fetch(
    _ artifact: ArtifactRef, of notice: DeploymentNotice, before: Int64, total: Int64, attempt: Int,
    deadline: Duration, tally: TransferTally
  ) async throws -> String {
    let remaining = deadline - clock.now
    guard remaining > .zero else {
      throw AgentError.timedOut(stage: "the download", seconds: notice.timeouts.download, last: "none")
    }
    let report = progressReporter(notice, attempt: attempt, tally: tally)
    let timeout = TimeAmount.seconds(min(remaining.components.seconds, Int64(Limits.stageTimeout.upperBound)) + 1)
    // An image that goes straight into its slot: no copy on the data disk, and no delta.
    let fits = (try? downloader.checkFreeSpace(needed: artifact.size)) != nil
    if let target = try await handler(notice).streamTarget(
      for: artifact, context: context(notice), fitsOnDataDisk: fits)
    {
      return try await downloader.stream(artifact, into: target, timeout: timeout, tally: tally) { bytes, resumedFrom in
        let stage = "writing \(artifact.name) into \(target) as it arrives"
        // The resume and the last bytes always reach the controller, whatever the throttle says.
        report(
          before + bytes, total, resumedFrom.map { "\(stage), resumed at \($0) bytes" } ?? stage,
          resumedFrom != nil || bytes == artifact.size)
      }
    }
    // A delta when the signed manifest names the asset's chunk index and an earlier version is on the device.
    if let index = notice.manifest?.manifest.assets.first(where: {
      $0.name == artifact.name && $0.sha256 == artifact.sha256
    })?.index, artifact.indexURL != nil {
      let (seeds, made) = await deltaSeeds(notice, artifact)
      defer { if let made { try? FileManager.default.removeItem(atPath: made) } }
      do {
        let known = ArtifactDownloader.knownIndexes(in: "\(keptDirectory(of: notice.release.package))/.index")
        return try await downloader.downloadDelta(
          artifact, index: index, seeds: seeds, known: known, timeout: timeout, tally: tally
        ) { delta in
          report(
            before + delta.done, total,
            "delta: \(delta.reused) bytes reused, \(delta.fetched) fetched in \(delta.requests) requests",
            delta.done == artifact.size)
        }.path
      } catch let unavailable as DeltaUnavailable {
        report(before, total, "no delta for \(artifact.name) (\(unavailable.reason)): downloading it whole", true)
      }
    }
    return try await downloader.download(artifact, timeout: timeout, tally: tally) { bytes, resumedFrom in
      report(before + bytes, total, resumedFrom.map { "resumed at \($0) bytes" }, resumedFrom != nil)
    }
  }

  /// What a delta of `artifact` takes chunks from: the kept assets of the package, or, when none are kept
  /// (`keepAssets` off, or a first delta), what the handler offers (the directory handler's installed tree as
  /// a tar), made only when the disk has room for it beside the new asset; `made` is that file, for removal.
  private func deltaSeeds(_ notice: DeploymentNotice, _ artifact: ArtifactRef) async -> (
    seeds: [String], made: String?
  ) {
    let kept = keptAssets(of: notice.release.package)
    guard kept.isEmpty, let handler = try? handler(notice) else { return (kept, nil) }
    let path = downloader.seedPath(artifact)
    guard (try? downloader.checkFreeSpace(needed: 2 * artifact.size)) != nil,
      await handler.deltaSeed(
        package: notice.release.package, installDirectory: config.installDirectory, into: path)
    else { return ([], nil) }
    return ([path], path)
  }

  /// Where the installed version's assets of `package` are kept for deltas.
  func keptDirectory(of package: String) -> String { "\(config.dataDirectory)/kept/\(Names.packageFileName(package))" }

  /// The kept assets of `package`: what a delta takes chunks from.
  func keptAssets(of package: String) -> [String] {
    let directory = keptDirectory(of: package)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.filter { $0 != ".index" }.sorted().map { "\(directory)/\($0)" }
  }

  /// After a successful update: its downloaded assets replace the kept ones (a kept asset it did not download,
  /// a compose bundle of an app that did not change, stays), so the next update can be a delta from them. With
  /// `keepAssets` off only their chunk indexes are kept (a few hundred KiB for a GiB): the next delta then
  /// fetches only the parts of the new index that changed.
  func keepAssets(of notice: DeploymentNotice) {
    let directory = keptDirectory(of: notice.release.package)
    let staging = directory + ".new"
    let files = FileManager.default
    try? files.removeItem(atPath: staging)
    /// Moves `asset` (when assets are kept) and its index (ArtifactDownloader.seedIndexPath) into the staging
    /// directory as `name`; false when `asset` is not there.
    func keep(_ asset: String, index: String, as name: String) throws -> Bool {
      guard files.fileExists(atPath: asset) else { return false }
      let target = "\(staging)/\(name)"
      if config.keepAssets { try files.moveItem(atPath: asset, toPath: target) }
      if files.fileExists(atPath: index) {
        try files.moveItem(atPath: index, toPath: ArtifactDownloader.seedIndexPath(target))
      }
      return true
    }
    do {
      try files.createDirectory(atPath: "\(staging)/.index", withIntermediateDirectories: true)
      for artifact in notice.artifacts {
        let kept = "\(directory)/\(artifact.name)"
        let downloaded = downloader.finalPath(artifact)
        if try !keep(downloaded, index: downloader.indexPath(artifact), as: artifact.name), config.keepAssets {
          _ = try keep(kept, index: ArtifactDownloader.seedIndexPath(kept), as: artifact.name)
        }
      }
      try? files.removeItem(atPath: directory)
      try files.moveItem(atPath: staging, toPath: directory)
    } catch {
      // Only the next delta suffers: it downloads in full.
      try? files.removeItem(atPath: staging)
      logger.warning("could not keep the assets of \(notice.release) for delta updates: \(error)")
    }
  }
}
