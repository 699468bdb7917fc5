import AirliftClient
import AirliftCore
import Foundation
import Testing

@Suite("Release repository: assets, manifests, tags")
struct ReleaseRepositoryTests {
  @Test("a version carries several assets; identical assets are stored once and shared")
  func sharedAssets() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let shared = "\(fleet.root)/shared.bin"
      try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: shared))
      let bundle = try ReleaseBundle.make(in: fleet.root)
      let a = try await client.uploadBlob(file: shared)
      let b = try await client.uploadBlob(file: bundle)
      let again = try await client.uploadBlob(file: shared)
      #expect(a == again)
      let v1 = try await client.createRelease(
        .init(
          package: "gw-fw", version: "1.0.0", parameters: ["MODE": "safe"],
          assets: [.init(name: "bundle.tar.gz", sha256: b.sha256), .init(name: "data.bin", sha256: a.sha256)]))
      let v2 = try await client.createRelease(
        .init(package: "gw-fw", version: "1.1.0", assets: [.init(name: "data.bin", sha256: a.sha256)]))
      #expect(v1.assets.map(\.name) == ["bundle.tar.gz", "data.bin"])
      #expect(v1.parameters == ["MODE": "safe"])
      #expect(v2.assets.first?.sha256 == v1.assets.last?.sha256)
      let blobs = try FileManager.default.contentsOfDirectory(atPath: "\(fleet.root)/controller/blobs")
      #expect(blobs.sorted() == [a.sha256, b.sha256].sorted())

      // A release may only name uploaded blobs.
      do {
        _ = try await client.createRelease(
          .init(
            package: "gw-fw", version: "1.2.0", assets: [.init(name: "x", sha256: String(repeating: "0", count: 64))]))
        Issue.record("a release naming a missing blob was accepted")
      } catch let error as ClientError {
        guard case .refused(400, "blob_not_found", _) = error else { throw error }
      }
      #expect(try await client.releases(package: "gw-fw").map(\.version) == ["1.1.0", "1.0.0"])
    }
  }

  @Test("locked tags never move; floating tags move; a tag deploy records the version it resolved")
  func tags() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      for version in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        _ = try await client.uploadRelease(package: "app", version: version, file: bundle)
      }
      _ = try await client.setTag(package: "app", tag: "v1.0.0", version: "1.0.0", locked: true)
      do {
        _ = try await client.setTag(package: "app", tag: "v1.0.0", version: "1.1.0", locked: true)
        Issue.record("a locked tag moved")
      } catch let error as ClientError {
        guard case .refused(409, "tag_locked", _) = error else { throw error }
      }
      _ = try await client.setTag(package: "app", tag: "stable", version: "1.0.0", locked: false)
      _ = try await client.setTag(package: "app", tag: "stable", version: "1.1.0", locked: false)
      let tags = try await client.tags(package: "app")
      #expect(tags.map { "\($0.name)=\($0.version)" } == ["stable=1.1.0", "v1.0.0=1.0.0"])
      #expect(try await client.release(package: "app", version: "1.1.0").tags == ["stable"])

      let deployment = try await client.createDeployment(
        .init(package: "app", tag: "stable", target: .init(devices: ["device-040"]), allowUnknownDevices: true))
      #expect(deployment.release.version == "1.1.0")
      #expect(deployment.tag == "stable")
      // Moving the tag later does not change what the deployment ships.
      _ = try await client.setTag(package: "app", tag: "stable", version: "2.0.0-rc.1", locked: false)
      #expect(try await client.deployment(deployment.id).release.version == "1.1.0")
    }
  }

  @Test("tag moves are atomic under concurrent deploys: each deploy gets a version the tag really named")
  func concurrentTagMoves() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      let versions = (0..<5).map { "1.\($0).0" }
      for version in versions { _ = try await client.uploadRelease(package: "race", version: version, file: bundle) }
      _ = try await client.setTag(package: "race", tag: "beta", version: versions[0], locked: false)
      let resolved = try await withThrowingTaskGroup(of: String?.self) { group in
        for version in versions.dropFirst() {
          group.addTask {
            _ = try await client.setTag(package: "race", tag: "beta", version: version, locked: false)
            return nil
          }
        }
        for index in 0..<8 {
          group.addTask {
            try await client.createDeployment(
              .init(
                package: "race", tag: "beta", target: .init(devices: ["device-\(100 + index)"]),
                allowUnknownDevices: true)
            ).release.version
          }
        }
        var seen: [String] = []
        for try await version in group { if let version { seen.append(version) } }
        return seen
      }
      #expect(resolved.count == 8)
      #expect(resolved.allSatisfy(versions.contains))
      let final = try await client.tags(package: "race").first { $0.name == "beta" }?.version
      #expect(final.map(versions.contains) == true)
    }
  }
}
