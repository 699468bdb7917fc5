import AirliftCore
import AirliftCrypto
import Foundation
import Testing

@testable import AirliftAgent

/// A kept asset's index spares the next delta a pass over the whole file;
/// it is used only while it fits the file and the parameters.
@Suite("Kept chunk indexes")
struct KeptIndexTests {
  private static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return UInt8(truncatingIfNeeded: state >> 33)
    }
  }

  @Test(
    "a kept index is read instead of cutting the file; another size or other parameters, and the file is cut again")
  func keptIndexUsed() throws {
    let folder = NSTemporaryDirectory() + "airlift-kept-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: "\(folder)/.index", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let seed = "\(folder)/rootfs.img"
    let original = Self.bytes(1 << 20, seed: 1)
    try Data(original).write(to: URL(fileURLWithPath: seed))
    let cut = try ChunkIndexBuilder.index(ofFile: seed)
    #expect(cut.chunks.count > 4)
    #expect(ArtifactDownloader.seedIndexPath(seed) == "\(folder)/.index/rootfs.img")
    try Data(cut.encoded()).write(to: URL(fileURLWithPath: ArtifactDownloader.seedIndexPath(seed)))

    // The file changes under the same size: the kept index still speaks for it (the key check on reading each
    // chunk is what catches this), which shows the file was not cut again.
    try Data(Self.bytes(1 << 20, seed: 2)).write(to: URL(fileURLWithPath: seed))
    let wanted = Set(cut.chunks.map(\.digest))
    let fromIndex = ArtifactDownloader.localChunks([seed], parameters: .standard, wanted: wanted)
    #expect(Set(fromIndex.keys) == wanted)
    #expect(fromIndex.values.map(\.offset).sorted() == cut.chunks.map(\.offset))

    // Other parameters, or a file of another size: the index is not used, the file is cut.
    let other = ChunkingParameters(minimum: 2 << 10, average: 8 << 10, maximum: 32 << 10)
    #expect(ArtifactDownloader.keptIndex(of: seed, parameters: other) == nil)
    #expect(ArtifactDownloader.keptIndex(of: seed, parameters: .standard) != nil)
    try Data(original + [7]).write(to: URL(fileURLWithPath: seed))
    #expect(ArtifactDownloader.keptIndex(of: seed, parameters: .standard) == nil)
    let fromFile = ArtifactDownloader.localChunks([seed], parameters: .standard, wanted: wanted)
    // Cut afresh: every chunk but the last (one byte longer now) is found where it is.
    #expect(fromFile.count == cut.chunks.count - 1)
    #expect(fromFile[cut.chunks[0].digest]?.offset == 0)
  }
}
