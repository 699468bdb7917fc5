import AirliftCore
import Testing

@Suite("Metadata documents of versions: SBOMs, build information, free JSON")
struct ReleaseMetadataTests {
  static func kind(_ name: String, _ text: String) throws(AirliftCoreError) -> MetadataKind {
    try ReleaseMetadata.classify(name: name, document: Array(text.utf8))
  }

  @Test("SPDX and CycloneDX are recognised by their own fields, under any name")
  func recognisesSBOMs() throws {
    #expect(try Self.kind("sbom", #"{"spdxVersion": "SPDX-2.3", "packages": []}"#) == .spdx)
    #expect(try Self.kind("sbom", #"{"bomFormat": "CycloneDX", "specVersion": "1.5"}"#) == .cycloneDX)
    #expect(try Self.kind("sbom-rootfs", #"{"bomFormat": "CycloneDX"}"#) == .cycloneDX)
    #expect(try Self.kind("notes", #"{"text": "hello"}"#) == .json)
    #expect(try Self.kind("list", "[1, 2]") == .json)
    #expect(
      try Self.kind("build", #"{"commit": "4f2a9c1", "pipeline": "ci-123", "time": "2026-11-30T10:00:00Z"}"#) == .build)
  }

  @Test(
    "refused with the reason: an `sbom` that is neither format, a `build` with a non-string commit, not JSON, too big, a bad name"
  )
  func refuses() {
    func reason(_ name: String, _ text: String) -> String? {
      do throws(AirliftCoreError) {
        _ = try Self.kind(name, text)
        return nil
      } catch {
        return error.description
      }
    }
    #expect(reason("sbom", #"{"packages": []}"#)?.contains("SPDX JSON (with spdxVersion) or CycloneDX JSON") == true)
    #expect(reason("build", #"{"commit": 42}"#) == "metadata document 'build' refused: 'commit' must be a string")
    #expect(reason("build", "[]")?.contains("must be a JSON object") == true)
    #expect(reason("notes", "{not json")?.hasPrefix("metadata document 'notes' refused: not JSON") == true)
    #expect(reason("bad name", "{}")?.contains("use 1-64 letters") == true)
    #expect(reason("notes", "null")?.contains("a JSON object or array") == true)
    let big = "[" + String(repeating: "1,", count: ReleaseMetadata.maxSize / 2) + "1]"
    #expect(reason("notes", big)?.contains("the limit is") == true)
  }
}
