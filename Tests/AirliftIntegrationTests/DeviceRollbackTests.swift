import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// `airlift device rollback`: controller -> device command, no download.
@Suite("Operator rollback of a device")
struct DeviceRollbackTests {
  private func install(_ fleet: Fleet, _ version: String, device: String, handler: String = "directory") async throws
    -> API.Deployment
  {
    let client = try #require(fleet.client)
    let source = "\(fleet.root)/site-\(version)"
    try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
    try "version \(version)".write(toFile: "\(source)/index.html", atomically: true, encoding: .utf8)
    try "#!/bin/sh\nexit 0\n".write(toFile: "\(source)/install", atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(source)/install")
    let file = "\(fleet.root)/site-\(handler)-\(version).tar.gz"
    try Fleet.run("/usr/bin/env", ["tar", "-czf", file, "-C", source, "."])
    let package = handler == "directory" ? "site" : "tool"
    _ = try await client.uploadRelease(package: package, version: version, file: file, handler: handler)
    let deployment = try await client.createDeployment(
      .init(package: package, version: version, target: .init(devices: [device])))
    try await eventually("\(package) \(version) installed") {
      try await client.deployment(deployment.id).status == .completed
    }
    return deployment
  }

  @Test("a polling device gets the rollback with its next check-in, carries it out once, and answers over HTTPS")
  func pollingRollback() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("rb-poll")
      config.transport = .https
      config.brokerURL = ""
      config.period = Period(seconds: 1)
      try await fleet.startAgent(config)
      _ = try await install(fleet, "1.0.0", device: config.deviceID)
      let second = try await install(fleet, "2.0.0", device: config.deviceID)

      let command = try await client.answer(
        to: try await client.rollBack(device: config.deviceID, package: "site", reason: "bad build"))
      #expect(command.status == .succeeded && command.message == "rolled site back from 2.0.0 to 1.0.0")
      try await eventually("the deployment to show RolledBack") {
        try await client.deployment(second.id).devices.first?.state == .rolledBack
      }
      // Several more check-ins: the command is not carried out again (a second run would switch back to 2.0.0).
      try await Task.sleep(for: .seconds(3))
      let current = "\(config.installDirectory)/site/current"
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: current) == "versions/1.0.0")
      #expect(try await client.device(config.deviceID).device.installed["site"] == "1.0.0")
    }
  }

  @Test("a directory device switches back to the version it kept and reports the newer deployment RolledBack")
  func directoryRollback() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("rb-dir")
      try await fleet.startAgent(config)
      _ = try await install(fleet, "1.0.0", device: config.deviceID)
      let second = try await install(fleet, "2.0.0", device: config.deviceID)
      let downloads = try await client.release(package: "site", version: "2.0.0").assets.count

      let command = try await client.answer(
        to: try await client.rollBack(device: config.deviceID, package: "site", reason: "broken TLS config"))
      #expect(command.status == .succeeded)
      #expect(command.message == "rolled site back from 2.0.0 to 1.0.0")
      let app = "\(config.installDirectory)/site"
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(app)/current") == "versions/1.0.0")
      #expect(try String(contentsOfFile: "\(app)/current/index.html", encoding: .utf8) == "version 1.0.0")
      #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(app)/previous") == "versions/2.0.0")
      try await eventually("the deployment to show RolledBack") {
        try await client.deployment(second.id).devices.first?.state == .rolledBack
      }
      #expect(try await client.deployment(second.id).devices.first?.error == "operator rollback: broken TLS config")
      try await eventually("the inventory to show 1.0.0") {
        try await client.device(config.deviceID).device.installed["site"] == "1.0.0"
      }
      // No download happened: nothing in the downloads folder, one asset ever.
      #expect(downloads == 1)
      #expect(
        (try? FileManager.default.contentsOfDirectory(atPath: "\(config.dataDirectory)/downloads"))?.isEmpty ?? true)
    }
  }

  @Test("refusals: a package the device lacks (409), an unknown device (404), a handler that cannot switch back")
  func refusals() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("rb-refuse")
      try await fleet.startAgent(config)
      _ = try await install(fleet, "1.0.0", device: config.deviceID, handler: "script")
      _ = try await install(fleet, "1.1.0", device: config.deviceID, handler: "script")

      await #expect {
        _ = try await client.rollBack(device: config.deviceID, package: "nope")
      } throws: { "\($0)".contains("HTTP 409, package_not_installed") && "\($0)".contains("it runs tool@1.1.0") }
      await #expect {
        _ = try await client.rollBack(device: "ghost-1", package: "tool")
      } throws: { "\($0)".contains("HTTP 404, device_not_found") }

      let command = try await client.answer(to: try await client.rollBack(device: config.deviceID, package: "tool"))
      #expect(command.status == .failed)
      #expect(command.message?.contains("the script handler cannot switch back to a previous version") == true)
      #expect(try await client.device(config.deviceID).device.installed["tool"] == "1.1.0")
    }
  }
}
