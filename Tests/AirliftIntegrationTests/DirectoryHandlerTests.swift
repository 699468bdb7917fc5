import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

@Suite("The directory handler: versioned folders and an atomic current link")
struct DirectoryHandlerTests {
  @Test("each version lands in its folder, current switches, the previous version is kept, older ones go")
  func switchesAndPrunes() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("device-120")
      try await fleet.startAgent(config)
      let app = "\(config.installDirectory)/site"

      for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let source = "\(fleet.root)/site-\(version)"
        try FileManager.default.createDirectory(atPath: "\(source)/www", withIntermediateDirectories: true)
        try "version \(version)".write(toFile: "\(source)/www/index.html", atomically: true, encoding: .utf8)
        let file = "\(fleet.root)/site-\(version).tar.gz"
        try Fleet.run("/usr/bin/env", ["tar", "-czf", file, "-C", source, "."])
        _ = try await client.uploadRelease(package: "site", version: version, file: file, handler: "directory")
        let deployment = try await client.createDeployment(
          .init(package: "site", version: version, target: .init(devices: ["device-120"])))
        try await eventually("site \(version) to be installed") {
          try await client.deployment(deployment.id).status == .completed
        }
        #expect(try String(contentsOfFile: "\(app)/current/www/index.html", encoding: .utf8) == "version \(version)")
      }
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(app)/current") == "versions/2.0.0")
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(app)/previous") == "versions/1.1.0")
      #expect(try FileManager.default.contentsOfDirectory(atPath: "\(app)/versions").sorted() == ["1.1.0", "2.0.0"])
      // The inventory follows the update's end on its own message: wait for it, do not race it (seen in CI).
      try await eventually("the inventory to say site 2.0.0") {
        try await client.devices().first?.installed["site"] == "2.0.0"
      }

      // A bad bundle fails before anything moves: current stays.
      let evil = "\(fleet.root)/evil-src"
      try FileManager.default.createDirectory(atPath: evil, withIntermediateDirectories: true)
      try FileManager.default.createSymbolicLink(atPath: "\(evil)/escape", withDestinationPath: "../../../../etc")
      let file = "\(fleet.root)/evil.tar.gz"
      try Fleet.run("/usr/bin/env", ["tar", "-czf", file, "-C", evil, "."])
      _ = try await client.uploadRelease(package: "site", version: "3.0.0", file: file, handler: "directory")
      let bad = try await client.createDeployment(
        .init(package: "site", version: "3.0.0", target: .init(devices: ["device-120"])))
      try await eventually("the bad version to end") {
        try await client.deployment(bad.id).status == .completed
      }
      // Failed, not RolledBack: it failed before switching, so nothing was undone.
      #expect(try await client.deployment(bad.id).devices.first?.state == .failed)
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(app)/current") == "versions/2.0.0")
      #expect(!FileManager.default.fileExists(atPath: "\(app)/versions/3.0.0"))
    }
  }

  @Test("rollback switches current back to the previous version, and only undoes its own switch")
  func rollbackSwitchesBack() async throws {
    let root = NSTemporaryDirectory() + "airlift-dir-" + UUID().uuidString.prefix(8)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let handler = DirectoryHandler()
    func context(_ version: String) throws -> InstallContext {
      let source = "\(root)/src-\(version)"
      try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
      try version.write(toFile: "\(source)/VERSION", atomically: true, encoding: .utf8)
      let file = "\(root)/\(version).tar"
      try Fleet.run("/usr/bin/env", ["tar", "-cf", file, "-C", source, "."])
      let notice = DeploymentNotice(
        deployment: "dep-\(version)", release: .init(package: "app", version: version), handler: "directory",
        artifacts: [])
      return InstallContext(
        deviceID: try DeviceID("device-121"), notice: notice, artifacts: ["app.tar": file],
        workDirectory: "\(root)/work", installDirectory: "\(root)/install")
    }
    let one = try context("1.0.0")
    let two = try context("2.0.0")
    try await handler.install(one)
    #expect(try await handler.rollback(one) == .nothingToUndo)
    try await handler.install(two)
    let current = "\(root)/install/app/current/VERSION"
    #expect(try String(contentsOfFile: current, encoding: .utf8) == "2.0.0")
    #expect(try await handler.rollback(two) == .undone)
    #expect(try String(contentsOfFile: current, encoding: .utf8) == "1.0.0")
    #expect(try await handler.rollback(two) == .nothingToUndo)
  }

  @Test("a first install whose bundle cannot be unpacked leaves no empty folders, and says all tar said")
  func failedFirstInstallLeavesNothing() async throws {
    let root = NSTemporaryDirectory() + "airlift-dir-" + UUID().uuidString.prefix(8)
    defer { try? FileManager.default.removeItem(atPath: root) }
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    let file = "\(root)/broken.tar"
    try "this is no tar archive".write(toFile: file, atomically: true, encoding: .utf8)
    let notice = DeploymentNotice(
      deployment: "dep-1", release: .init(package: "app", version: "1.0.0"), handler: "directory", artifacts: [])
    let context = InstallContext(
      deviceID: try DeviceID("device-122"), notice: notice, artifacts: ["app.tar": file],
      workDirectory: "\(root)/work", installDirectory: "\(root)/install")
    await #expect {
      try await DirectoryHandler().install(context)
    } throws: { error in
      // tar's lines, not only its last ("Exiting with failure status due to previous errors").
      "\(error)".contains("does not look like a tar archive") && "\(error)".contains("Exiting with failure status")
    }
    #expect(!FileManager.default.fileExists(atPath: "\(root)/install/app"))
  }
}
