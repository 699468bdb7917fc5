import AirliftCore
import Foundation
import Testing

@Suite("Release manifests and the checks a device makes")
struct ReleaseManifestTests {
  static let digestA = String(repeating: "a", count: 64)
  static let digestB = String(repeating: "b", count: 64)

  static let manifest = ReleaseManifest(
    package: "gw-fw", version: "2.1.0", handler: "script", expires: "2026-12-31T00:00:00Z",
    assets: [.init(name: "z.tar.gz", size: 10, sha256: digestB), .init(name: "a b.bin", size: 3, sha256: digestA)])

  @Test("the canonical text is exactly what docs/security.md specifies: one line per field, assets by name")
  func canonicalText() {
    #expect(
      Self.manifest.canonicalText == """
        airlift-release-manifest v1
        package gw-fw
        version 2.1.0
        handler script
        expires 2026-12-31T00:00:00Z
        downgrade no
        asset \(Self.digestA) 3 a b.bin
        asset \(Self.digestB) 10 z.tar.gz

        """)
    var downgrade = Self.manifest
    downgrade.downgrade = true
    #expect(downgrade.canonicalText.contains("\ndowngrade yes\n"))
    #expect(ReleaseManifest.formatExpiry(Date(timeIntervalSince1970: 1_798_675_200.75)) == "2026-12-31T00:00:00Z")
  }

  @Test(
    "malformed manifests are refused with the field",
    arguments: [
      ("expires", "2026-12-31"), ("expires", "2026-12-31T00:00:00.5Z"), ("package", "GW"), ("version", "2.1"),
      ("handler", "scr ipt"),
    ])
  func malformed(field: String, value: String) {
    var manifest = Self.manifest
    switch field {
    case "expires": manifest.expires = value
    case "package": manifest.package = value
    case "version": manifest.version = value
    default: manifest.handler = value
    }
    #expect {
      try manifest.validate()
    } throws: { "\($0)".contains("malformed manifest") && "\($0)".contains(value) }
  }

  @Test("an asset name that could break a manifest line, or be a path, is refused")
  func assetNames() {
    for name in ["a/b", "..", ".", "", "line\nbreak", "tab\tname", String(repeating: "x", count: 256)] {
      var manifest = Self.manifest
      manifest.assets[0].name = name
      #expect(throws: ReleaseRefusal.self) { try manifest.validate() }
    }
    var twice = Self.manifest
    twice.assets[1].name = twice.assets[0].name
    #expect(throws: ReleaseRefusal.malformedManifest("asset 'z.tar.gz' is listed twice")) { try twice.validate() }
  }

  static func notice(_ manifest: ReleaseManifest?, downgrade: Bool? = nil) -> DeploymentNotice {
    DeploymentNotice(
      deployment: "dep-1", release: ReleaseRef(package: "gw-fw", version: "2.1.0"), handler: "script",
      artifacts: Self.manifest.assets.map {
        ArtifactRef(name: $0.name, url: "https://c/artifacts/\($0.sha256)", size: $0.size, sha256: $0.sha256)
      },
      manifest: manifest.map { SignedManifest(manifest: $0, signature: .init(key: "k", value: "")) },
      downgrade: downgrade)
  }

  static let now = Date(timeIntervalSince1970: 1_790_000_000)  // 2026-09-21, before the expiry

  @Test("what the checks refuse, and what they let through")
  func checks() throws {
    func refusal(_ notice: DeploymentNotice, installed: String? = nil, now: Date = Self.now) -> ReleaseRefusal? {
      do {
        try ReleaseCheck.check(notice, installed: installed, now: now)
        return nil
      } catch { return error }
    }
    #expect(refusal(Self.notice(Self.manifest)) == nil)
    #expect(refusal(Self.notice(Self.manifest), installed: "2.0.9") == nil)
    #expect(refusal(Self.notice(Self.manifest), installed: "2.1.0") == nil)
    #expect(refusal(Self.notice(nil)) == .unsigned)

    var otherVersion = Self.notice(Self.manifest)
    otherVersion.release.version = "2.2.0"
    #expect(
      refusal(otherVersion)
        == .wrongRelease(
          signed: ReleaseRef(package: "gw-fw", version: "2.1.0"),
          offered: ReleaseRef(package: "gw-fw", version: "2.2.0")))
    var otherHandler = Self.notice(Self.manifest)
    otherHandler.handler = "directory"
    #expect(refusal(otherHandler) == .wrongHandler(signed: "script", offered: "directory"))

    var extra = Self.notice(Self.manifest)
    extra.artifacts.append(ArtifactRef(name: "evil", url: "https://c/e", size: 1, sha256: Self.digestA))
    #expect(refusal(extra) == .assetNotSigned("evil"))
    var swapped = Self.notice(Self.manifest)
    swapped.artifacts[0].sha256 = Self.digestA
    #expect(refusal(swapped) == .assetDiffers("z.tar.gz", reason: "SHA-256 \(Self.digestA), signed \(Self.digestB)"))
    var bigger = Self.notice(Self.manifest)
    bigger.artifacts[1].size = 4
    #expect(refusal(bigger) == .assetDiffers("a b.bin", reason: "4 bytes, signed 3"))
    var fewer = Self.notice(Self.manifest)
    fewer.artifacts.removeLast()
    #expect(refusal(fewer) == .assetMissing("a b.bin"))

    let expiry = try #require(Self.manifest.expiryDate)
    #expect(refusal(Self.notice(Self.manifest), now: expiry) == .expired("2026-12-31T00:00:00Z"))
    #expect(refusal(Self.notice(Self.manifest), now: expiry - 1) == nil)

    #expect(
      refusal(Self.notice(Self.manifest), installed: "2.1.1")
        == .downgrade(installed: "2.1.1", offered: "2.1.0", signedDowngrade: false))
    #expect(
      refusal(Self.notice(Self.manifest, downgrade: true), installed: "3.0.0")
        == .downgrade(installed: "3.0.0", offered: "2.1.0", signedDowngrade: false))
    var allowed = Self.manifest
    allowed.downgrade = true
    #expect(
      refusal(Self.notice(allowed), installed: "3.0.0")
        == .downgrade(installed: "3.0.0", offered: "2.1.0", signedDowngrade: true))
    #expect(refusal(Self.notice(allowed, downgrade: true), installed: "3.0.0") == nil)
    #expect(refusal(Self.notice(Self.manifest), installed: "2.1.0-rc.1") == nil)
  }

  @Test("a refusal before download ends the update Failed with the reason, nothing to undo")
  func refusalStep() throws {
    let step = try #require(
      UpdateMachine.next(UpdateProgress(), on: .refused(reason: "refused: x"), limits: UpdateLimits()))
    #expect(step.progress.phase == .failed && step.progress.error == "refused: x")
    #expect(step.effects == [.cleanUp])
    #expect(step.reports && step.progress.phase.reported == .failed)
  }
}

@Suite("Hardware compatibility in the signed manifest")
struct ReleaseCompatibleTests {
  @Test("a release for some hardware signs a compatible line per name, sorted; one for any device signs none")
  func canonical() {
    var manifest = ReleaseManifestTests.manifest
    #expect(!manifest.canonicalText.contains("compatible"))
    manifest.compatible = ["gw-300", "gw-200"]
    #expect(manifest.canonicalText.hasSuffix("compatible gw-200\ncompatible gw-300\n"))
    #expect(
      ReleaseManifest(package: "p", version: "1.0.0", handler: "script", expires: "x", assets: [], compatible: [])
        .compatible == nil)
  }

  @Test("a device of other hardware, or one that names none, refuses the release before downloading")
  func refused() throws {
    var manifest = ReleaseManifestTests.manifest
    manifest.compatible = ["gw-200", "gw-300"]
    let notice = ReleaseManifestTests.notice(manifest)
    let now = ReleaseManifestTests.now
    try ReleaseCheck.check(notice, installed: nil, now: now, compatible: "gw-300")
    #expect(throws: ReleaseRefusal.incompatible(releaseFor: ["gw-200", "gw-300"], device: "gw-100")) {
      try ReleaseCheck.check(notice, installed: nil, now: now, compatible: "gw-100")
    }
    #expect(throws: ReleaseRefusal.incompatible(releaseFor: ["gw-200", "gw-300"], device: nil)) {
      try ReleaseCheck.check(notice, installed: nil, now: now, compatible: nil)
    }
    #expect(
      ReleaseRefusal.incompatible(releaseFor: ["gw-300", "gw-200"], device: "gw-100").description
        == "refused before downloading: the release is for gw-200, gw-300 (signed), this device is gw-100 (agent config compatible)"
    )
    // A release for any device installs anywhere.
    try ReleaseCheck.check(ReleaseManifestTests.notice(ReleaseManifestTests.manifest), installed: nil, now: now)
  }

  @Test("compatible names are checked like tags, at most 32, none twice")
  func validated() {
    for names in [["GW 200"], ["gw/200"], [""], ["a", "a"], (0..<33).map { "gw-\($0)" }] {
      var manifest = ReleaseManifestTests.manifest
      manifest.compatible = names
      #expect(throws: ReleaseRefusal.self) { try manifest.validate() }
    }
    var fine = ReleaseManifestTests.manifest
    fine.compatible = ["gw-200", "rpi4.b"]
    #expect(throws: Never.self) { try fine.validate() }
  }
}
