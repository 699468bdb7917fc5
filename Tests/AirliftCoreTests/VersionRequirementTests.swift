import AirliftCore
import Testing

@Suite("Version filters")
struct VersionRequirementTests {
  @Test(
    "comparisons follow SemVer precedence",
    arguments: [
      ("<2.0.0", "1.9.9", true), ("<2.0.0", "2.0.0", false), ("<2.0.0", "2.0.0-rc.1", true),
      (">=1.2.0 <2.0.0", "1.5.0", true), (">=1.2.0,<2.0.0", "2.1.0", false), ("=1.4.1", "1.4.1+build.7", true),
      ("1.4.1", "1.4.2", false), ("!=1.0.0", "1.0.1", true), ("<=1.0.0", "1.0.0", true),
      (">1.0.0-alpha", "1.0.0", true),
    ])
  func comparisons(filter: String, version: String, expected: Bool) throws {
    #expect(try VersionRequirement(filter).isSatisfied(by: SemanticVersion(version)) == expected)
  }

  @Test("malformed filters are refused", arguments: ["", "<", "<2.0", ">=x.y.z", "~1.0.0"])
  func malformed(filter: String) {
    #expect(throws: AirliftCoreError.self) { try VersionRequirement(filter) }
  }
}
