import AirliftClient
import AirliftController
import AirliftCore
import Foundation
import Testing

/// Releases that are no longer needed go, with the blobs only they held; what is still needed is refused.
@Suite("Deleting releases and collecting blobs")
struct ReleaseDeletionTests {
  @Test(
    "a release a device runs or a live deployment names is refused, naming them; once unused it goes with its tags, finished deployments and the blobs only it held; shared and unused blobs are handled"
  )
  func deleteRelease() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("del-1"))
      let old = try await client.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root, name: "old.tar.gz"))
      let sharedBundle = try ReleaseBundle.make(in: fleet.root, name: "new.tar.gz")
      _ = try await client.uploadRelease(package: "app", version: "1.1.0", file: sharedBundle)
      _ = try await client.uploadRelease(package: "tool", version: "1.0.0", file: sharedBundle)
      _ = try await client.setTag(package: "app", tag: "old", version: "1.0.0", locked: true)
      let first = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["del-1"])))
      try await eventually("del-1 to run app 1.0.0") {
        try await client.device("del-1").device.installed["app"] == "1.0.0"
      }

      let (refused, refusal) = try await fleet.airlift(["release", "delete", "app@1.0.0"])
      #expect(refused != 0 && refusal.contains("1 device(s) run it: del-1"), "\(refusal)")

      let second = try await client.createDeployment(
        .init(package: "app", version: "1.1.0", target: .init(devices: ["del-1"])))
      try await eventually("del-1 to run app 1.1.0") {
        guard try await client.deployment(second.id).status == .completed else { return false }
        return try await client.device("del-1").device.installed["app"] == "1.1.0"
      }
      let oldBlob = "\(fleet.root)/controller/blobs/\(old.assets[0].sha256)"
      #expect(FileManager.default.fileExists(atPath: oldBlob))
      let (deleted, output) = try await fleet.airlift(["release", "delete", "app@1.0.0", "--json"])
      #expect(deleted == 0, "\(output)")
      let gone = try Wire.decoder().decode(API.DeletedRelease.self, from: Data(output.utf8))
      #expect(gone.tags == ["old"] && gone.deployments == [first.id] && gone.blobs == [old.assets[0].sha256])
      #expect(gone.bytes == old.assets[0].size)
      #expect(!FileManager.default.fileExists(atPath: oldBlob))
      #expect(
        try await client.releases().map { "\($0.package)@\($0.version)" }.sorted() == ["app@1.1.0", "tool@1.0.0"])
      await #expect { _ = try await client.deployment(first.id) } throws: { "\($0)".contains("deployment_not_found") }

      // A blob another release holds stays, file and all.
      let shared = try await client.deleteRelease(package: "tool", version: "1.0.0")
      #expect(shared.blobs.isEmpty)
      let sharedDigest = try await client.release(package: "app", version: "1.1.0").assets[0].sha256
      #expect(FileManager.default.fileExists(atPath: "\(fleet.root)/controller/blobs/\(sharedDigest)"))

      // A live deployment keeps its release, and says which one.
      let live = try await client.createDeployment(
        .init(
          package: "app", version: "1.1.0", target: .init(devices: ["del-later"]), allowUnknownDevices: true))
      await #expect { _ = try await client.deleteRelease(package: "app", version: "1.1.0") } throws: {
        "\($0)".contains("live deployment(s) \(live.id)") && "\($0)".contains("del-1")
      }

      // Deleting needs an admin.
      let deployer = try await client.createToken(name: "looker", role: .deployer)
      let asDeployer = try RepositoryTests.client(fleet, token: deployer.secret)
      defer { Task { await asDeployer.shutdown() } }
      await #expect { _ = try await asDeployer.deleteRelease(package: "app", version: "1.1.0") } throws: {
        "\($0)".contains("admin_only")
      }

      // An upload no release ever used is collected once it is a day old.
      let stray = "\(fleet.root)/stray.bin"
      try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: stray))
      let blob = try await client.uploadBlob(file: stray)
      let store = try #require(fleet.controller?.store)
      #expect(try await store.collectBlobs(before: Date().addingTimeInterval(-3600)).isEmpty)
      let collected = try await store.collectBlobs(before: Date().addingTimeInterval(60))
      #expect(collected.map(\.sha256) == [blob.sha256])
      await store.removeUnlistedFiles(
        collected.map(\.sha256), from: try BlobStore(directory: "\(fleet.root)/controller"), logger: Fleet.quietLogger)
      #expect(!FileManager.default.fileExists(atPath: "\(fleet.root)/controller/blobs/\(blob.sha256)"))
      #expect(FileManager.default.fileExists(atPath: "\(fleet.root)/controller/blobs/\(sharedDigest)"))
    }
  }
}
