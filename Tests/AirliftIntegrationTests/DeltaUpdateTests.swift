import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// Delta updates on real parts: the controller cuts every uploaded asset
/// into content-defined chunks and signs the index with the release; the
/// agent keeps the installed version's assets and, for the next version,
/// fetches only the chunks it lacks, as multi-range requests on the asset.
@Suite("Delta updates: only the chunks a device lacks travel")
struct DeltaUpdateTests {
  /// A plain-tar release of `payload` with a script and a README that say the version.
  static func release(
    _ fleet: Fleet, _ client: ControllerClient, version: String, payload: [UInt8]
  ) async throws -> API.Release {
    let bundle = try ReleaseBundle.make(
      in: fleet.root, name: "app-\(version).tar", install: ReleaseBundle.recordingInstall + "\n# \(version)\n",
      payload: payload, compressed: false)
    return try await client.uploadRelease(package: "app", version: version, file: bundle, name: "app.tar")
  }

  /// Deploys `version` to `device` and waits for the end; the device's reports of it.
  static func deploy(_ fleet: Fleet, _ client: ControllerClient, version: String, to device: String) async throws
    -> [StatusReport]
  {
    let deployment = try await client.createDeployment(
      .init(package: "app", version: version, target: .init(devices: [device])))
    try await eventually("\(device) to finish \(version)") {
      try await client.deployment(deployment.id).devices.first?.state.isTerminal == true
    }
    return try await #require(fleet.controller?.store).statusEvents(deployment: deployment.id, device: DeviceID(device))
  }

  /// `bytes` with `count` runs of 100 new bytes written over it at spread-out places.
  static func edited(_ bytes: [UInt8], runs count: Int, seed: UInt8) -> [UInt8] {
    var copy = bytes
    for run in 0..<count {
      let at = (run + 1) * bytes.count / (count + 1)
      for offset in 0..<100 { copy[at + offset] = copy[at + offset] &+ seed &+ UInt8(offset & 0xff) }
    }
    return copy
  }

  @Test(
    "v1 installs in full; v2 and then v4 (skipping v3) fetch a few chunks, every chunk checked, installed once each"
  )
  func deltaFromEarlierVersions() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let metrics = try #require(fleet.controller?.metrics)
      let config = try fleet.agentConfig("dl-1")
      try await fleet.startAgent(config)
      let v1 = try randomBytes(3 << 20)
      let released = try await Self.release(fleet, client, version: "1.0.0", payload: v1)
      let asset = try #require(released.assets.first)
      let index = try #require(asset.index, "the controller made no chunk index")
      #expect(index.chunks > 20)
      let first = try await Self.deploy(fleet, client, version: "1.0.0", to: "dl-1")
      #expect(first.last?.state == .successful)
      #expect(first.contains { ($0.stage ?? "").contains("no earlier version of it is on the device") })
      let kept = "\(config.dataDirectory)/kept/app/app.tar"
      #expect(FileManager.default.fileExists(atPath: kept), "the installed version's asset is kept for deltas")
      // With its index (fetched though the install was whole), so the next delta need not cut the file again.
      let keptIndex = try #require(
        FileManager.default.contents(atPath: "\(config.dataDirectory)/kept/app/.index/app.tar"))
      #expect(try ChunkIndex(decoding: Array(keptIndex)).assetDigest.description == asset.sha256)

      let v2 = Self.edited(v1, runs: 2, seed: 1)
      let v2Asset = try #require(try await Self.release(fleet, client, version: "2.0.0", payload: v2).assets.first)
      var before = metrics.artifactBytesServed
      let second = try await Self.deploy(fleet, client, version: "2.0.0", to: "dl-1")
      #expect(second.last?.state == .successful)
      let served = metrics.artifactBytesServed - before
      // Two edits: a few 32 KiB chunks around each, and the index; not the 3 MiB asset.
      #expect(served < 1 << 20, "\(served) bytes served for a \(asset.size)-byte asset")
      let delta = try #require(second.last { ($0.stage ?? "").hasPrefix("delta:") })
      // One request for the index, one for the chunks.
      #expect(delta.stage?.contains("fetched in 2 requests") == true, "\(delta.stage ?? "")")
      let v2Index = try #require(
        FileManager.default.contents(atPath: "\(config.dataDirectory)/kept/app/.index/app.tar"))
      #expect(try ChunkIndex(decoding: Array(v2Index)).assetDigest.description == v2Asset.sha256)
      // The device says what it fetched and reused; the controller keeps it per device, and the CLI shows it.
      let deployment = try #require(try await client.deployments().first { $0.release.version == "2.0.0" })
      let transfer = try #require(try await client.deployment(deployment.id).devices.first?.transfer)
      #expect(transfer.total == asset.size)
      #expect(transfer.fetched == served, "the device counted \(transfer.fetched) bytes, the controller sent \(served)")
      #expect(transfer.reused > asset.size / 2 && transfer.reused < asset.size, "\(transfer)")
      #expect(second.last { $0.state == .downloaded }?.fetched == transfer.fetched)
      let (status, shown) = try await UpdateFlowIntegrationTests.airlift(fleet, ["deploy", "show", deployment.id])
      #expect(status == 0)
      #expect(
        shown.contains("download: \(ByteCount.text(served)) fetched of \(ByteCount.text(asset.size)) ("), "\(shown)")
      #expect(shown.contains("reused from the devices"), "\(shown)")
      // The estimate, from the indexes alone, says what the device did: the same chunks reused, the same requests,
      // the same bytes but for the multipart headers.
      let (estimated, json) = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["release", "estimate", "app@1.0.0", "app@2.0.0", "--json"])
      #expect(estimated == 0, "\(json)")
      let estimate = try UpdateFlowIntegrationTests.decode(DeltaEstimate.self, json)
      #expect(estimate.assets.count == 1 && estimate.assets[0].whole == nil, "\(estimate)")
      #expect(estimate.transfer.reused == transfer.reused)
      #expect(estimate.requests == 2)
      #expect(estimate.transfer.fetched <= transfer.fetched && transfer.fetched - estimate.transfer.fetched < 4096)

      // v3 is never deployed; v4 changes v3 further. The device on v2 goes straight to v4.
      let v3 = Self.edited(v2, runs: 3, seed: 2)
      _ = try await Self.release(fleet, client, version: "3.0.0", payload: v3)
      _ = try await Self.release(fleet, client, version: "4.0.0", payload: Self.edited(v3, runs: 1, seed: 3))
      before = metrics.artifactBytesServed
      let fourth = try await Self.deploy(fleet, client, version: "4.0.0", to: "dl-1")
      #expect(fourth.last?.state == .successful)
      #expect(metrics.artifactBytesServed - before < 2 << 20)
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n") == ["app 1.0.0", "app 2.0.0", "app 4.0.0"])
    }
  }

  @Test("a chunk tampered with in the store is refused and fetched again, and the update fails uninstalled")
  func tamperedChunk() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("dl-2")
      config.maxAttempts = 2
      config.retryBaseDelay = 0.1
      try await fleet.startAgent(config)
      let v1 = try randomBytes(2 << 20)
      _ = try await Self.release(fleet, client, version: "1.0.0", payload: v1)
      #expect(try await Self.deploy(fleet, client, version: "1.0.0", to: "dl-2").last?.state == .successful)
      let v2 = Self.edited(v1, runs: 1, seed: 1)
      let released = try await Self.release(fleet, client, version: "2.0.0", payload: v2)
      // Flip a byte in the changed region of the stored asset: the chunk the device must fetch.
      let blob = "\(fleet.root)/controller/blobs/\(try #require(released.assets.first).sha256)"
      var stored = try Data(contentsOf: URL(fileURLWithPath: blob))
      let edit = Data(v2[(v2.count / 2)..<(v2.count / 2 + 100)])
      let at = try #require(stored.range(of: edit)).lowerBound + 50
      stored[at] ^= 0xff
      try stored.write(to: URL(fileURLWithPath: blob))
      let reports = try await Self.deploy(fleet, client, version: "2.0.0", to: "dl-2")
      #expect(reports.last?.state == .failed)
      let retried = reports.filter { $0.state == .retrying }
      #expect(
        !retried.isEmpty
          && retried.allSatisfy { ($0.error ?? "").contains("does not match its SHA-256 in the signed index") })
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n") == ["app 1.0.0"], "2.0.0 never installed")
    }
  }

  @Test(
    "a directory device that keeps no assets takes its delta from the installed tree, packed as a tar: the files' chunks are found again"
  )
  func deltaFromInstalledTree() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("dl-5")
      config.keepAssets = false
      try await fleet.startAgent(config)
      // Three files of 1 MiB; v2 changes 100 bytes of one. The release's tar lists them in another order than
      // the device's sorted one.
      var files = [
        ("c.bin", try randomBytes(1 << 20)), ("a.bin", try randomBytes(1 << 20)), ("b.bin", try randomBytes(1 << 20)),
      ]
      func bundle(_ version: String) throws -> String {
        let folder = "\(fleet.root)/tree-\(version)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/\(name)")) }
        let tar = "\(fleet.root)/tree-\(version).tar"
        try Fleet.run("/usr/bin/env", ["tar", "-cf", tar, "-C", folder] + files.map(\.0))
        return tar
      }
      func deploy(_ version: String) async throws -> [StatusReport] {
        _ = try await client.uploadRelease(
          package: "app", version: version, file: try bundle(version), handler: "directory", name: "app.tar")
        return try await Self.deploy(fleet, client, version: version, to: "dl-5")
      }
      #expect(try await deploy("1.0.0").last?.state == .successful)
      #expect(!FileManager.default.fileExists(atPath: "\(config.dataDirectory)/kept/app/app.tar"))
      files[1].1 = Self.edited(files[1].1, runs: 1, seed: 4)
      let second = try await deploy("2.0.0")
      #expect(second.last?.state == .successful)
      let reused = second.compactMap(\.reused).max() ?? 0
      let fetched = second.compactMap(\.fetched).max() ?? .max
      #expect(
        reused > 2 << 20 && fetched < 1 << 20, "\(reused) reused, \(fetched) fetched: \(second.compactMap(\.stage))")
      let installed = try Data(contentsOf: URL(fileURLWithPath: "\(config.installDirectory)/app/current/a.bin"))
      #expect(Array(installed) == files[1].1)
      let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(config.dataDirectory)/downloads")
      #expect(!leftovers.contains { $0.hasSuffix(".seed") }, "the tar of the tree is removed: \(leftovers)")
    }
  }

  @Test("an index that does not match its signed digest, or no earlier version on the device: the whole asset, said so")
  func fallsBackToTheWholeAsset() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("dl-3"))
      var forgetful = try fleet.agentConfig("dl-4")
      forgetful.keepAssets = false
      try await fleet.startAgent(forgetful)
      let v1 = try randomBytes(2 << 20)
      _ = try await Self.release(fleet, client, version: "1.0.0", payload: v1)
      for device in ["dl-3", "dl-4"] {
        #expect(try await Self.deploy(fleet, client, version: "1.0.0", to: device).last?.state == .successful)
      }
      let released = try await Self.release(fleet, client, version: "2.0.0", payload: Self.edited(v1, runs: 1, seed: 1))
      let missing = try await Self.deploy(fleet, client, version: "2.0.0", to: "dl-4")
      #expect(missing.last?.state == .successful)
      #expect(missing.contains { ($0.stage ?? "").contains("no earlier version of it is on the device") })

      let index = try #require(released.assets.first?.index)
      let stored = "\(fleet.root)/controller/blobs/\(index.sha256)"
      var bytes = try Data(contentsOf: URL(fileURLWithPath: stored))
      bytes[bytes.count - 1] ^= 0xff
      try bytes.write(to: URL(fileURLWithPath: stored))

      let forged = try await Self.deploy(fleet, client, version: "2.0.0", to: "dl-3")
      #expect(forged.last?.state == .successful)
      #expect(forged.contains { ($0.stage ?? "").contains("does not match the SHA-256 in the signed manifest") })
    }
  }
}
