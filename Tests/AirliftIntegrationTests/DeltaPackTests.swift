import AirliftAgent
import AirliftClient
import AirliftController
import AirliftCore
import AsyncHTTPClient
import Foundation
import Testing

/// Deltas of assets that compress: the controller keeps a chunk pack beside
/// each (every chunk a zstd frame), and devices fetch missing chunks as
/// ranges of the pack, inflating and checking each.
@Suite("Delta updates from chunk packs: missing chunks travel compressed")
struct DeltaPackTests {
  /// Bytes that compress about in half: random, but only 16 letters.
  static func text(_ count: Int) throws -> [UInt8] {
    let letters = Array("abcdefghijklmnop".utf8)
    return try randomBytes(count).map { letters[Int($0 & 15)] }
  }

  @Test(
    "the first install travels compressed; the next fetches a few frames; the device's count, the controller's and the estimate agree"
  )
  func packedDeltas() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let metrics = try #require(fleet.controller?.metrics)
      let config = try fleet.agentConfig("dp-1")
      try await fleet.startAgent(config)
      let v1 = try Self.text(3 << 20)
      let released = try await DeltaUpdateTests.release(fleet, client, version: "1.0.0", payload: v1)
      let asset = try #require(released.assets.first)
      let pack = try #require(asset.pack, "a text asset got no chunk pack")
      #expect(pack.size < asset.size * 6 / 10, "a \(pack.size)-byte pack for \(asset.size) bytes of text")

      var before = metrics.artifactBytesServed
      let first = try await DeltaUpdateTests.deploy(fleet, client, version: "1.0.0", to: "dp-1")
      #expect(first.last?.state == .successful)
      let firstServed = metrics.artifactBytesServed - before
      #expect(firstServed < asset.size * 6 / 10, "\(firstServed) bytes served for the first install")
      #expect(first.contains { ($0.stage ?? "").hasPrefix("delta: 0 bytes reused") })

      let v2 = DeltaUpdateTests.edited(v1, runs: 2, seed: 1)
      _ = try await DeltaUpdateTests.release(fleet, client, version: "2.0.0", payload: v2)
      let estimate = try await client.estimateDelta(package: "app", from: "1.0.0", to: "2.0.0")
      before = metrics.artifactBytesServed
      let second = try await DeltaUpdateTests.deploy(fleet, client, version: "2.0.0", to: "dp-1")
      #expect(second.last?.state == .successful)
      let served = metrics.artifactBytesServed - before
      #expect(served < 256 << 10, "\(served) bytes served for two small edits")
      let deployment = try #require(try await client.deployments().first { $0.release.version == "2.0.0" })
      let transfer = try #require(try await client.deployment(deployment.id).devices.first?.transfer)
      #expect(transfer.fetched == served, "the device counted \(transfer.fetched), the controller sent \(served)")
      #expect(transfer.reused == estimate.transfer.reused)
      #expect(estimate.transfer.fetched <= transfer.fetched && transfer.fetched - estimate.transfer.fetched < 4096)
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n") == ["app 1.0.0", "app 2.0.0"])
    }
  }

  @Test("a frame damaged in the stored pack is refused, fetched again, and the update fails uninstalled")
  func damagedFrame() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("dp-2")
      config.maxAttempts = 2
      config.retryBaseDelay = 0.1
      try await fleet.startAgent(config)
      let v1 = try Self.text(2 << 20)
      _ = try await DeltaUpdateTests.release(fleet, client, version: "1.0.0", payload: v1)
      #expect(try await DeltaUpdateTests.deploy(fleet, client, version: "1.0.0", to: "dp-2").last?.state == .successful)
      let v2 = DeltaUpdateTests.edited(v1, runs: 1, seed: 1)
      let released = try await DeltaUpdateTests.release(fleet, client, version: "2.0.0", payload: v2)
      let asset = try #require(released.assets.first)
      let blobs = "\(fleet.root)/controller/blobs"
      let index = try ChunkIndex(
        decoding: Array(try Data(contentsOf: URL(fileURLWithPath: "\(blobs)/\(try #require(asset.index).sha256)"))))
      // The frame of the chunk holding the edit: the one chunk the device must fetch.
      let stored = try Data(contentsOf: URL(fileURLWithPath: "\(blobs)/\(asset.sha256)"))
      let edit = try #require(stored.range(of: Data(v2[(v2.count / 2)..<(v2.count / 2 + 100)]))).lowerBound
      let chunk = try #require(index.chunks.first { $0.offset <= Int64(edit) && Int64(edit) < $0.end })
      let packPath = "\(blobs)/\(try #require(asset.pack).sha256)"
      var pack = try Data(contentsOf: URL(fileURLWithPath: packPath))
      pack[Int(chunk.packedOffset) + chunk.packedLength / 2] ^= 0xff
      try pack.write(to: URL(fileURLWithPath: packPath))

      let reports = try await DeltaUpdateTests.deploy(fleet, client, version: "2.0.0", to: "dp-2")
      #expect(reports.last?.state == .failed)
      let error = reports.last?.error ?? ""
      #expect(
        error.contains("of the pack") || error.contains("does not match its SHA-256 in the signed index"), "\(error)")
      #expect(reports.filter { $0.state == .retrying }.count == 1, "fetched again once before giving up")
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n") == ["app 1.0.0"], "2.0.0 never installed")
    }
  }
}

@Suite("Delta updates from a plain HTTPS origin")
struct DeltaOriginTests {
  /// Starts the agent of `config`, installs v1 and then v2 (three runs edited); the first release, v2's asset,
  /// the reports of v2 (successful) and the lines the origin logged during v2.
  static func twoVersions(_ fleet: Fleet, _ config: AgentConfig, log: String) async throws -> (
    first: API.Release, asset: API.Asset, reports: [StatusReport], lines: [Substring]
  ) {
    let client = try #require(fleet.client)
    try await fleet.startAgent(config)
    let v1 = try DeltaPackTests.text(2 << 20)
    let first = try await DeltaUpdateTests.release(fleet, client, version: "1.0.0", payload: v1)
    let installed = try await DeltaUpdateTests.deploy(fleet, client, version: "1.0.0", to: config.deviceID)
    #expect(installed.last?.state == .successful)
    let released = try await DeltaUpdateTests.release(
      fleet, client, version: "2.0.0", payload: DeltaUpdateTests.edited(v1, runs: 3, seed: 1))
    let before = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").count ?? 0
    let reports = try await DeltaUpdateTests.deploy(fleet, client, version: "2.0.0", to: config.deviceID)
    #expect(reports.last?.state == .successful)
    let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").dropFirst(before)
    return (first, try #require(released.assets.first), reports, Array(lines))
  }

  @Test(
    "nginx with no Airlift code serves the deltas: the index, then the missing frames as multi-range answers from the pack; the controller sends no artifact byte"
  )
  func nginxOrigin() async throws {
    try await Fleet.with(controller: false) { fleet in
      let blobs = "\(fleet.root)/controller/blobs"
      let origin = try await Nginx.start(in: fleet.root, name: "origin") { port in
        """
          server {
            listen 127.0.0.1:\(port) ssl;
            ssl_certificate \(fleet.certs)/controller.crt;
            ssl_certificate_key \(fleet.certs)/controller.key;
            ssl_client_certificate \(fleet.certs)/ca.crt;
            ssl_verify_client on;
            location ~ "^/artifacts/([0-9a-f]{64})$" {
              default_type application/octet-stream;
              alias \(blobs)/$1;
            }
          }
        """
      }
      defer { origin.stop() }
      try await fleet.startControllerNow(publicURL: origin.url)
      let metrics = try #require(fleet.controller?.metrics)
      let config = try fleet.agentConfig("do-1")
      let (first, asset, reports, lines) = try await Self.twoVersions(fleet, config, log: "\(origin.root)/access.log")
      let (pack, index) = (try #require(asset.pack), try #require(asset.index))
      #expect(first.assets.first?.sha256 != asset.sha256)
      let delta = try #require(reports.last { ($0.stage ?? "").hasPrefix("delta:") })
      // The index's head (a byte range: the whole of a small index), then the frames.
      #expect(delta.stage?.contains("fetched in 2 requests") == true, "\(delta.stage ?? "")")
      #expect(
        lines.contains { $0.contains("GET /artifacts/\(index.sha256) ") && $0.contains(" 206 ") })
      #expect(lines.contains { $0.contains("GET /artifacts/\(pack.sha256) ") && $0.contains(" 206 ") }, "\(lines)")
      #expect(!lines.contains { $0.contains("GET /artifacts/\(asset.sha256) ") }, "the whole asset was not fetched")
      #expect(metrics.artifactBytesServed == 0, "the controller served \(metrics.artifactBytesServed) artifact bytes")
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n") == ["app 1.0.0", "app 2.0.0"])
    }
  }

  @Test(
    "assetLinks.updates: the controller answers each artifact request with a fresh signed link; nginx's secure_link checks it and serves the index and the pack's frames"
  )
  func signedLinkOrigin() async throws {
    try await Fleet.with(controller: false) { fleet in
      let secret = "a-secret-shared-with-the-origin"
      let origin = try await SecureLinkOrigin.start(
        in: fleet.root, certs: fleet.certs, blobs: "\(fleet.root)/controller/blobs", secret: secret)
      defer { origin.stop() }
      try await fleet.startControllerNow(
        assetLinks: AssetLinkConfig(origin: origin.url, secret: secret, ttl: 120, updates: true))
      let metrics = try #require(fleet.controller?.metrics)
      let config = try fleet.agentConfig("do-2")
      let redirects = metrics.artifactRedirectCount
      let (first, asset, reports, lines) = try await Self.twoVersions(fleet, config, log: "\(origin.root)/access.log")
      let (pack, index) = (try #require(asset.pack), try #require(asset.index))
      #expect(reports.contains { ($0.stage ?? "").hasPrefix("delta:") }, "\(reports.compactMap(\.stage))")
      #expect(lines.contains { $0.contains("GET /links/\(index.sha256)/artifact?md5=") && $0.contains(" 206 ") })
      #expect(
        lines.contains { $0.contains("GET /links/\(pack.sha256)/artifact?md5=") && $0.contains(" 206 ") }, "\(lines)")
      #expect(!lines.contains { $0.contains("/links/\(asset.sha256)/") }, "the whole asset was not fetched")
      // Every request the device made was sent on: for each version the index and one request of the pack.
      #expect(metrics.artifactRedirectCount - redirects == 4)
      #expect(metrics.artifactBytesServed == 0, "the controller served \(metrics.artifactBytesServed) artifact bytes")

      // Each request gets a link of its own, on the origin, valid for the ttl; the controller still decides what
      // a device may fetch: a blob no release names is 404, not a link.
      let device = try fleet.httpClient(certificate: config.certificate, key: config.key, redirects: false)
      defer { _ = device.shutdown() }
      let old = try #require(first.assets.first?.sha256)
      let answer = try await device.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/artifacts/\(old)"), timeout: .seconds(30))
      #expect(answer.status == .temporaryRedirect)
      let location = try #require(answer.headers.first(name: "location"))
      #expect(location.hasPrefix("\(origin.url)/links/\(old)/artifact?md5="), "\(location)")
      let expires = try #require(location.split(separator: "expires=").last.flatMap { Int64($0) })
      #expect(abs(Double(expires) - Date().timeIntervalSince1970 - 120) < 30)
      let unreleased = String(repeating: "ab", count: 32)
      let refused = try await device.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/artifacts/\(unreleased)"), timeout: .seconds(30))
      #expect(refused.status == .notFound)
    }
  }
}
