import AirliftAgent
import AirliftClient
import AirliftCore
import AirliftCrypto
import Foundation
import Testing

/// A large asset's chunk index is stored in segments: the device fetches
/// the signed head and only the segments its kept index lacks.
@Suite("Delta updates of a large asset: only the changed parts of the index travel")
struct DeltaIndexSegmentTests {
  @Test(
    "v2 fetches the index's head and the segments that changed (3 requests in all); a tampered segment makes a whole download, said so"
  )
  func segmentsOfTheIndex() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("seg-1")
      try await fleet.startAgent(config)
      // 20 MiB at 32 KiB chunks: about 640 chunks, past ChunkIndex.segmentedMinimum.
      let v1 = try randomBytes(20 << 20)
      let first = try #require(
        try await DeltaUpdateTests.release(fleet, client, version: "1.0.0", payload: v1).assets.first?.index)
      #expect(first.chunks >= ChunkIndex.segmentedMinimum)
      #expect(
        try await DeltaUpdateTests.deploy(fleet, client, version: "1.0.0", to: "seg-1").last?.state == .successful)

      let v2 = DeltaUpdateTests.edited(v1, runs: 1, seed: 1)
      let second = try #require(
        try await DeltaUpdateTests.release(fleet, client, version: "2.0.0", payload: v2).assets.first?.index)
      let stored = { (ref: API.ChunkIndexRef) in
        try Data(contentsOf: URL(fileURLWithPath: "\(fleet.root)/controller/blobs/\(ref.sha256)"))
      }
      let wholeIndex = try stored(second)
      #expect(Int64(wholeIndex.count) > second.size * 10, "the head (\(second.size) bytes) is what is signed")
      let reports = try await DeltaUpdateTests.deploy(fleet, client, version: "2.0.0", to: "seg-1")
      #expect(reports.last?.state == .successful)
      let delta = try #require(reports.last { ($0.stage ?? "").hasPrefix("delta:") })
      #expect(delta.stage?.contains("fetched in 3 requests") == true, "\(delta.stage ?? "")")
      // What the chunks cost, from the two indexes; the rest of what the device fetched is the index's head and
      // the segments its kept index lacks: a small part of the whole index.
      let old = try ChunkIndex(decoding: Array(stored(first)))
      let new = try ChunkIndex(decoding: Array(wholeIndex))
      let chunks = DeltaPlan(new, available: Set(old.chunks.map(\.digest)), packed: true).fetched
      let missing = Set(new.segmentBodies()).subtracting(old.segmentBodies())
      let index = second.size + Int64(missing.reduce(0) { $0 + $1.count })
      #expect(!missing.isEmpty && index * 2 < Int64(wholeIndex.count), "\(index) of \(wholeIndex.count) index bytes")
      let fetched = try #require(reports.last { $0.state == .downloaded }?.fetched)
      // Beside them only the multipart headers of answers with several ranges.
      #expect(
        (0..<1024).contains(fetched - chunks - index), "fetched \(fetched): \(chunks) of chunks, \(index) of the index")

      // v3's stored index has every segment body damaged after it was signed: refused, the asset comes whole.
      let v3 = DeltaUpdateTests.edited(v2, runs: 1, seed: 2)
      let third = try #require(
        try await DeltaUpdateTests.release(fleet, client, version: "3.0.0", payload: v3).assets.first?.index)
      let path = "\(fleet.root)/controller/blobs/\(third.sha256)"
      var damaged = try stored(third)
      for offset in stride(from: Int(third.size), to: damaged.count, by: 7) { damaged[offset] ^= 0x20 }
      try damaged.write(to: URL(fileURLWithPath: path))
      let refused = try await DeltaUpdateTests.deploy(fleet, client, version: "3.0.0", to: "seg-1")
      #expect(refused.last?.state == .successful)
      #expect(
        refused.contains { ($0.stage ?? "").contains("does not match its key in the signed head") },
        "\(refused.compactMap(\.stage))")
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n") == ["app 1.0.0", "app 2.0.0", "app 3.0.0"])
    }
  }

  @Test("with keepAssets off the device keeps only the indexes: the next index still travels in part")
  func indexesKeptWithoutAssets() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("seg-2")
      config.keepAssets = false
      try await fleet.startAgent(config)
      let v1 = try randomBytes(20 << 20)
      _ = try await DeltaUpdateTests.release(fleet, client, version: "1.0.0", payload: v1)
      #expect(
        try await DeltaUpdateTests.deploy(fleet, client, version: "1.0.0", to: "seg-2").last?.state == .successful)
      let kept = "\(config.dataDirectory)/kept/app"
      #expect(!FileManager.default.fileExists(atPath: "\(kept)/app.tar"), "no asset is kept")
      let keptIndex = try #require(FileManager.default.contents(atPath: "\(kept)/.index/app.tar"))
      #expect(try ChunkIndex(decoding: Array(keptIndex)).assetSize > 20 << 20)
      let released = try await DeltaUpdateTests.release(
        fleet, client, version: "2.0.0", payload: DeltaUpdateTests.edited(v1, runs: 1, seed: 1))
      let asset = try #require(released.assets.first)
      let wholeIndex = try Data(
        contentsOf: URL(fileURLWithPath: "\(fleet.root)/controller/blobs/\(try #require(asset.index).sha256)"))
      let reports = try await DeltaUpdateTests.deploy(fleet, client, version: "2.0.0", to: "seg-2")
      #expect(reports.last?.state == .successful)
      // Nothing to take chunks from (the script handler offers no seed): the whole asset, said so, and of the
      // index only its head and the changed segments.
      // When the device gave up on the delta it had fetched the index alone (counted before the whole asset,
      // which a slow machine may take in more than one try).
      let gaveUp = try #require(
        reports.first { ($0.stage ?? "").contains("no earlier version of it is on the device") })
      let old = try ChunkIndex(decoding: Array(keptIndex))
      let new = try ChunkIndex(decoding: Array(wholeIndex))
      let missing = Set(new.segmentBodies()).subtracting(old.segmentBodies())
      let expected = try #require(asset.index).size + Int64(missing.reduce(0) { $0 + $1.count })
      let fetched = try #require(gaveUp.fetched)
      #expect(expected * 2 < Int64(wholeIndex.count), "\(expected) of \(wholeIndex.count) index bytes")
      #expect((0..<1024).contains(fetched - expected), "\(fetched) bytes fetched, \(expected) of them the index")
    }
  }
}
