import AirliftClient
import AirliftCore
import Foundation
import Testing

@Suite("The script handler: bundle checks, verify and rollback")
struct ScriptHandlerTests {
  /// A bundle folder with the given executable scripts and extra tar arguments.
  private func bundle(_ fleet: Fleet, _ name: String, scripts: [String: String], tarArguments: [String] = [])
    throws -> String
  {
    let source = "\(fleet.root)/src-\(name)"
    try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
    for (script, body) in scripts {
      try body.write(toFile: "\(source)/\(script)", atomically: true, encoding: .utf8)
      try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(source)/\(script)")
    }
    let output = "\(fleet.root)/\(name).tar.gz"
    try Fleet.run("/usr/bin/env", ["tar", "-czf", output, "-C", source] + tarArguments + ["."])
    return output
  }

  private func deploy(_ fleet: Fleet, _ file: String, package: String, device: String) async throws -> API.Deployment {
    let client = try #require(fleet.client)
    _ = try await client.uploadRelease(package: package, version: "1.0.0", file: file)
    return try await client.createDeployment(
      .init(package: package, version: "1.0.0", target: .init(devices: [device])))
  }

  @Test(
    "entries outside the bundle are refused before anything runs",
    arguments: [("dotdot", "../evil"), ("absolute", "/tmp/airlift-evil")])
  func escapingEntries(kind: String, member: String) async throws {
    try await Fleet.with { fleet in
      let config = try fleet.agentConfig("device-10\(kind.count)")
      try await fleet.startAgent(config)
      let marker = "\(fleet.root)/ran-\(kind)"
      let file = try bundle(
        fleet, kind, scripts: ["install": "#!/bin/sh\ntouch '\(marker)'\n", "evil": "#!/bin/sh\n"],
        tarArguments: ["--absolute-names", "--transform", "s,^\\./evil$,\(member),"])
      let deployment = try await deploy(fleet, file, package: "evil-\(kind)", device: config.deviceID)
      let client = try #require(fleet.client)
      try await eventually("the device to fail") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
      let error = try await client.deployment(deployment.id).devices.first?.error ?? ""
      #expect(error.contains("points outside the bundle"))
      #expect(!FileManager.default.fileExists(atPath: marker))
      #expect(!FileManager.default.fileExists(atPath: "/tmp/airlift-evil"))
    }
  }

  @Test("a link that leaves the bundle is refused before anything runs")
  func escapingLink() async throws {
    try await Fleet.with { fleet in
      let config = try fleet.agentConfig("device-110")
      try await fleet.startAgent(config)
      let marker = "\(fleet.root)/ran-link"
      let source = "\(fleet.root)/src-link"
      try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
      try FileManager.default.createSymbolicLink(atPath: "\(source)/config", withDestinationPath: "/etc/passwd")
      let file = try bundle(fleet, "link", scripts: ["install": "#!/bin/sh\ntouch '\(marker)'\n"])
      let deployment = try await deploy(fleet, file, package: "evil-link", device: config.deviceID)
      let client = try #require(fleet.client)
      try await eventually("the device to fail") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
      #expect((try await client.deployment(deployment.id).devices.first?.error ?? "").contains("link 'config'"))
      #expect(!FileManager.default.fileExists(atPath: marker))
    }
  }

  @Test("a failing verify runs rollback and the device reports RolledBack with the reason")
  func verifyFailureRollsBack() async throws {
    try await Fleet.with { fleet in
      let config = try fleet.agentConfig("device-111")
      try await fleet.startAgent(config)
      let log = "\(fleet.root)/steps.log"
      let file = try bundle(
        fleet, "verify",
        scripts: [
          "install": "#!/bin/sh\necho install >> '\(log)'\n",
          "verify": "#!/bin/sh\necho verify >> '\(log)'\necho 'service did not come up' >&2\nexit 1\n",
          "rollback": "#!/bin/sh\necho rollback >> '\(log)'\n",
        ])
      let deployment = try await deploy(fleet, file, package: "flaky", device: config.deviceID)
      let client = try #require(fleet.client)
      try await eventually("the device to roll back") {
        try await client.deployment(deployment.id).devices.first?.state == .rolledBack
      }
      let error = try await client.deployment(deployment.id).devices.first?.error ?? ""
      #expect(error.contains("verify script exited with status 1: service did not come up"))
      #expect(try String(contentsOfFile: log, encoding: .utf8) == "install\nverify\nrollback\n")
      #expect(try await client.devices().first { $0.id == "device-111" }?.installed["flaky"] == nil)
    }
  }
}
