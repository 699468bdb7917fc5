import AirliftCore
import Foundation
import Logging

/// A release that is still needed: deployments that may still move devices to it, devices that run it.
public struct ReleaseInUse: Error, Equatable, Sendable, CustomStringConvertible {
  public var release: ReleaseRef
  public var deployments: [String]
  public var devices: [String]

  public var description: String {
    var uses: [String] = []
    if !deployments.isEmpty { uses.append("live deployment(s) \(shortList(deployments)) (abort them first)") }
    if !devices.isEmpty { uses.append("\(devices.count) device(s) run it: \(shortList(devices))") }
    return "\(release) is in use and was not deleted: " + uses.joined(separator: "; ")
  }
}

/// Deleting what is no longer needed: releases and the blobs only they held.
extension ControllerStore {
  /// Deletes a release no live deployment names and no device runs, with its tags, its finished deployments'
  /// records and every blob (asset, chunk index, pack) no other release holds. Returns what went; the caller
  /// removes the blobs' files.
  public func deleteRelease(_ ref: ReleaseRef) async throws -> API.DeletedRelease {
    let live = [DeploymentStatus.scheduled, .active, .paused].map(\.rawValue)
    return try await db.write { db in
      guard let id = try Self.releaseID(ref, db: db) else { throw StoreError.releaseNotFound(ref) }
      let running = try String.fetchAll(
        db, sql: "SELECT id FROM deployment WHERE release_id = ? AND status IN (?, ?, ?) ORDER BY id",
        arguments: [id, live[0], live[1], live[2]])
      let devices = try String.fetchAll(
        db,
        sql: """
          SELECT device.id FROM device, \(db.dialect.jsonEntries(of: "device.installed", as: "j"))
          WHERE j.key = ? AND j.value = ? ORDER BY device.id
          """, arguments: [ref.package, ref.version])
      guard running.isEmpty, devices.isEmpty else {
        throw ReleaseInUse(release: ref, deployments: running, devices: devices)
      }
      let held = try String.fetchAll(
        db, sql: "SELECT sha256 FROM release_asset WHERE release_id = ?", arguments: [id])
      let finished = try String.fetchAll(db, sql: "SELECT id FROM deployment WHERE release_id = ?", arguments: [id])
      for deployment in finished {
        try db.execute(sql: "DELETE FROM status_event WHERE deployment_id = ?", arguments: [deployment])
        try db.execute(sql: "DELETE FROM deployment WHERE id = ?", arguments: [deployment])
      }
      let tags = try String.fetchAll(
        db, sql: "SELECT name FROM tag WHERE package = ? AND version = ? ORDER BY name",
        arguments: [ref.package, ref.version])
      try db.execute(
        sql: "DELETE FROM tag WHERE package = ? AND version = ?", arguments: [ref.package, ref.version])
      try db.execute(sql: "DELETE FROM release WHERE id = ?", arguments: [id])
      let freed = try Self.dropUnheldBlobs(Set(held), db: db)
      return API.DeletedRelease(
        package: ref.package, version: ref.version, tags: tags, deployments: finished,
        blobs: freed.map(\.sha256), bytes: freed.reduce(0) { $0 + $1.size })
    }
  }

  /// Blobs that no release holds and that arrived before `cutoff` (an upload whose release is not made yet is
  /// younger): their rows go; returns them so their files can be removed.
  public func collectBlobs(before cutoff: Date) async throws -> [(sha256: String, size: Int64)] {
    try await db.write { db in
      let candidates = try String.fetchAll(
        db, sql: "SELECT sha256 FROM blob WHERE created_at < ?", arguments: [cutoff])
      return try Self.dropUnheldBlobs(Set(candidates), db: db)
    }
  }

  /// Removes the files of `digests` whose rows are still gone (one uploaded again meanwhile keeps its file).
  public func removeUnlistedFiles(_ digests: [String], from blobs: BlobStore, logger: Logger) async {
    for digest in digests {
      let listed =
        (try? await db.read { db in
          try SQLRow.fetchOne(db, sql: "SELECT 1 FROM blob WHERE sha256 = ?", arguments: [digest]) != nil
        }) ?? true
      if !listed { blobs.remove([digest], logger: logger) }
    }
  }

  /// Of `blobs` (and their chunk indexes and packs), deletes the rows of those no release holds any more.
  private static func dropUnheldBlobs(_ blobs: Set<String>, db: any SQLConnection) throws
    -> [(sha256: String, size: Int64)]
  {
    var candidates = blobs
    for sha in blobs {
      if let row = try SQLRow.fetchOne(
        db, sql: "SELECT index_sha256, pack_sha256 FROM blob WHERE sha256 = ?", arguments: [sha])
      {
        if let index: String = row["index_sha256"] { candidates.insert(index) }
        if let pack: String = row["pack_sha256"] { candidates.insert(pack) }
      }
    }
    var dropped: [(sha256: String, size: Int64)] = []
    for sha in candidates.sorted() {
      let held =
        try SQLRow.fetchOne(
          db,
          sql: """
            SELECT 1 FROM release_asset WHERE sha256 = ? UNION ALL
            SELECT 1 FROM release_asset JOIN blob ON blob.sha256 = release_asset.sha256
            WHERE blob.index_sha256 = ? OR blob.pack_sha256 = ? LIMIT 1
            """, arguments: [sha, sha, sha]) != nil
      guard !held,
        let size: Int64 = try SQLRow.fetchOne(
          db, sql: "SELECT size FROM blob WHERE sha256 = ?", arguments: [sha])?["size"]
      else { continue }
      try db.execute(sql: "DELETE FROM blob WHERE sha256 = ?", arguments: [sha])
      dropped.append((sha, size))
    }
    return dropped
  }
}
