import AirliftCore
import Foundation
import Testing

@Suite("Compose apps in the signed manifest, and docker save archives")
struct ReleaseAppTests {
  static let idA = "sha256:" + String(repeating: "a", count: 64)
  static let idB = "sha256:" + String(repeating: "b", count: 64)
  static let digest = String(repeating: "c", count: 64)

  static func manifest(_ apps: [ReleaseApp]?) -> ReleaseManifest {
    ReleaseManifest(
      package: "site", version: "2.0.0", handler: "compose", expires: "2026-12-31T00:00:00Z",
      assets: [
        .init(name: "app-web.tar.gz", size: 10, sha256: digest), .init(name: "app-db.tar.gz", size: 3, sha256: digest),
      ],
      apps: apps)
  }

  @Test("apps and their images are signed, sorted, after the assets; a manifest without apps keeps its old bytes")
  func canonicalLines() {
    let apps = [
      ReleaseApp(
        name: "web", version: "1.4.0", asset: "app-web.tar.gz",
        images: [.init(reference: "local/web:1.4", id: Self.idB), .init(reference: "local/nginx:1", id: Self.idA)]),
      ReleaseApp(name: "db", version: "3.0.0", asset: "app-db.tar.gz", images: []),
    ]
    let text = Self.manifest(apps).canonicalText
    #expect(
      text.hasSuffix(
        """
        asset \(Self.digest) 10 app-web.tar.gz
        app db 3.0.0 app-db.tar.gz
        app web 1.4.0 app-web.tar.gz
        image web \(Self.idA) local/nginx:1
        image web \(Self.idB) local/web:1.4

        """))
    #expect(!Self.manifest(nil).canonicalText.contains("\napp "))
    #expect(Self.manifest([]).apps == nil)
    #expect(throws: Never.self) { try Self.manifest(apps).validate() }
  }

  @Test(
    "bad apps are refused with the reason",
    arguments: [
      ("Web", "1.0.0", "app-web.tar.gz", idA, "local/web:1", "invalid app"),
      ("web", "1.0", "app-web.tar.gz", idA, "local/web:1", "invalid version"),
      ("web", "1.0.0", "missing.tar.gz", idA, "local/web:1", "not in the release"),
      ("web", "1.0.0", "app-web.tar.gz", "sha256:abc", "local/web:1", "invalid image id"),
      ("web", "1.0.0", "app-web.tar.gz", idA, "local/web:1; rm -rf /", "invalid image reference"),
    ])
  func refused(name: String, version: String, asset: String, id: String, reference: String, expected: String) {
    let manifest = Self.manifest([
      ReleaseApp(name: name, version: version, asset: asset, images: [.init(reference: reference, id: id)])
    ])
    #expect {
      try manifest.validate()
    } throws: { "\($0)".contains(expected) }
  }

  @Test("an app listed twice is refused")
  func duplicate() {
    let app = ReleaseApp(name: "web", version: "1.0.0", asset: "app-web.tar.gz", images: [])
    #expect {
      try Self.manifest([app, app]).validate()
    } throws: { "\($0)".contains("listed twice") }
  }

  @Test("docker save manifests: legacy and OCI config names give the image id; anything else is refused")
  func archiveManifest() throws {
    let hex = String(repeating: "d", count: 64)
    let legacy = #"[{"Config":"\#(hex).json","RepoTags":["local/web:1"],"Layers":["x/layer.tar"]}]"#
    let oci = #"[{"Config":"blobs/sha256/\#(hex)","RepoTags":null,"Layers":[]}]"#
    #expect(
      try DockerArchive.images(manifestJSON: Array(legacy.utf8), archive: "a.tar") == [
        .init(id: "sha256:\(hex)", tags: ["local/web:1"])
      ])
    #expect(try DockerArchive.images(manifestJSON: Array(oci.utf8), archive: "b.tar").first?.tags == [])
    #expect {
      try DockerArchive.images(manifestJSON: Array(#"[{"Config":"../etc/passwd"}]"#.utf8), archive: "c.tar")
    } throws: { "\($0)".contains("c.tar") }
    #expect {
      try DockerArchive.images(manifestJSON: Array("{}".utf8), archive: "d.tar")
    } throws: { "\($0)".contains("not a docker save manifest") }
  }
}
