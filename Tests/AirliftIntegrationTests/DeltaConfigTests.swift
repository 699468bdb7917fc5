import AirliftController
import AirliftCore
import Foundation
import Testing

/// The controller's `deltas` settings: checked where they enter, and used
/// for every asset uploaded after.
@Suite("Delta settings in the controller config")
struct DeltaConfigTests {
  private func decode(_ deltas: String) throws -> ControllerConfig {
    try JSONDecoder().decode(
      ControllerConfig.self, from: Data(#"{"dataDirectory": "/tmp/x", "deltas": \#(deltas)}"#.utf8))
  }

  private func refusal(_ deltas: String) -> String {
    do {
      _ = try decode(deltas)
      return "accepted"
    } catch {
      return "\(error)"
    }
  }

  @Test("the average chunk is a power of two from 16 KiB to 1 MiB, the pack level 1 to 19; chunks are ¼ to 4× it")
  func ranges() throws {
    #expect(try decode("{}").deltas == DeltaConfig())
    #expect(DeltaConfig().parameters == .standard)
    let config = try decode(#"{"averageChunk": 32768, "packLevel": 19}"#)
    #expect(config.deltas.parameters == ChunkingParameters(minimum: 8192, average: 32768, maximum: 131_072))
    #expect(config.deltas.packLevel == 19)
    #expect(refusal(#"{"averageChunk": 50000}"#).contains("power of two from 16384 to 1048576"))
    #expect(refusal(#"{"averageChunk": 8192}"#).contains("is 8192, out of range"))
    #expect(refusal(#"{"averageChunk": 2097152}"#).contains("out of range"))
    #expect(refusal(#"{"packLevel": 0}"#).contains("is 0, out of range: give 1 to 19"))
    #expect(refusal(#"{"packLevel": 22}"#).contains("out of range"))
  }

  @Test("a controller set to 32 KiB chunks indexes the next upload with them; the device's delta follows the index")
  func uploadsUseTheSetting() async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerNow { $0.deltas = DeltaConfig(averageChunk: 32 << 10, packLevel: 3) }
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("dc-1")
      try await fleet.startAgent(config)
      let v1 = try DeltaPackTests.text(2 << 20)
      let first = try #require(
        try await DeltaUpdateTests.release(fleet, client, version: "1.0.0", payload: v1).assets.first)
      let indexRef = try #require(first.index)
      let index = try #require(try BlobStore(directory: "\(fleet.root)/controller").chunkIndex(indexRef))
      #expect(index.parameters == ChunkingParameters(minimum: 8 << 10, average: 32 << 10, maximum: 128 << 10))
      #expect(first.pack != nil)
      #expect(try await DeltaUpdateTests.deploy(fleet, client, version: "1.0.0", to: "dc-1").last?.state == .successful)
      _ = try await DeltaUpdateTests.release(
        fleet, client, version: "2.0.0", payload: DeltaUpdateTests.edited(v1, runs: 2, seed: 5))
      let reports = try await DeltaUpdateTests.deploy(fleet, client, version: "2.0.0", to: "dc-1")
      #expect(reports.last?.state == .successful)
      let reused = reports.compactMap(\.reused).max() ?? 0
      #expect(reused > 1 << 20, "\(reports.compactMap(\.stage))")
    }
  }
}
