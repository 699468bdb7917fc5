import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

@Suite("End to end: controller, broker and agents on real parts")
struct EndToEndTests {
  @Test("a release reaches two devices; both end Successful and check in with it")
  func releaseReachesTwoDevices() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let configs = try ["device-001", "device-002"].map { try fleet.agentConfig($0) }
      for config in configs { try await fleet.startAgent(config) }

      let bundle = try ReleaseBundle.make(in: fleet.root)
      let release = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      #expect(release.assets.count == 1)
      let deployment = try await client.createDeployment(
        .init(
          package: "hello", version: "1.0.0", target: .init(devices: ["device-001", "device-002"]),
          parameters: ["GREETING": "hello fleet"]))
      #expect(deployment.devices.map(\.state) == [.pending, .pending])

      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      let finished = try await client.deployment(deployment.id)
      #expect(finished.devices.map(\.state) == [.successful, .successful])

      for config in configs {
        let install = config.installDirectory
        #expect(try String(contentsOfFile: "\(install)/greeting", encoding: .utf8) == "hello fleet")
        #expect(try String(contentsOfFile: "\(install)/version", encoding: .utf8) == "1.0.0")
      }
      try await eventually("both devices to check in with hello 1.0.0") {
        try await client.devices().filter { $0.installed["hello"] == "1.0.0" }.count == 2
      }

      // Every stage was reported, in order.
      let store = try #require(fleet.controller?.store)
      let states = try await store.statusEvents(deployment: deployment.id, device: DeviceID("device-001")).map(\.state)
      let stages = states.reduce(into: [DeviceState]()) { if $0.last != $1 { $0.append($1) } }
      #expect(stages == [.pending, .downloading, .downloaded, .installing, .verifying, .successful])
    }
  }

  @Test("a finished deployment is not applied again after the agent restarts")
  func restartDoesNotReinstall() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("device-003")
      try await fleet.startAgent(config)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      _ = try await client.uploadRelease(package: "hello", version: "2.0.0", file: bundle)
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "2.0.0", target: .init(devices: ["device-003"])))
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      await fleet.stopAgent("device-003")
      try await eventually("the controller to see device-003 offline") {
        try await client.devices().first { $0.id == "device-003" }?.online == false
      }
      // The restarted agent gets the retained notice and the same answer over
      // HTTPS again; neither may run the install a second time.
      try await fleet.startAgent(config)
      try await Task.sleep(for: .seconds(2))
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n").count == 1)
      #expect(try await client.deployment(deployment.id).devices.first?.state == .successful)
    }
  }

  @Test("a tampered artifact fails with a digest error and its install script never runs")
  func tamperedArtifactIsRefused() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("device-004")
      try await fleet.startAgent(config)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      let release = try await client.uploadRelease(package: "hello", version: "1.0.1", file: bundle)
      let digest = try #require(release.assets.first?.sha256)

      // Flip bytes of the stored blob, keeping its size.
      let blob = "\(fleet.root)/controller/blobs/\(digest)"
      var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: blob)))
      for index in stride(from: 0, to: bytes.count, by: 7) { bytes[index] ^= 0xFF }
      try Data(bytes).write(to: URL(fileURLWithPath: blob))

      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "1.0.1", target: .init(devices: ["device-004"])))
      try await eventually("the device to fail") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
      let error = try #require(try await client.deployment(deployment.id).devices.first?.error)
      #expect(error.contains("SHA-256 digest mismatch"))
      #expect(!FileManager.default.fileExists(atPath: "\(config.installDirectory)/runs.log"))
      #expect(try await client.devices().first { $0.id == "device-004" }?.installed["hello"] == nil)
    }
  }

  @Test("an install script that fails reports Failed with its last output line")
  func failingInstallScript() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("device-005"))
      let bundle = try ReleaseBundle.make(
        in: fleet.root, install: "#!/bin/sh\necho 'disk layout not supported' >&2\nexit 3\n")
      _ = try await client.uploadRelease(package: "broken", version: "0.1.0", file: bundle)
      let deployment = try await client.createDeployment(
        .init(package: "broken", version: "0.1.0", target: .init(devices: ["device-005"])))
      try await eventually("the device to fail") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
      let error = try #require(try await client.deployment(deployment.id).devices.first?.error)
      #expect(error.contains("exited with status 3"))
      #expect(error.contains("disk layout not supported"))
    }
  }

  @Test("a device that checks in after an all-devices deployment started still gets it")
  func lateDeviceJoinsActiveDeployment() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("device-006"))
      let bundle = try ReleaseBundle.make(in: fleet.root)
      _ = try await client.uploadRelease(package: "hello", version: "3.0.0", file: bundle)
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "3.0.0", target: .init(allDevices: true)))
      #expect(deployment.devices.map(\.device) == ["device-006"])
      try await eventually("device-006 to finish") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
      // Finished by all its devices so far, it stays active for new ones.
      #expect(try await client.deployment(deployment.id).status == .active)
      try await fleet.startAgent(try fleet.agentConfig("device-007"))
      try await eventually("both devices to succeed") {
        let devices = try await client.deployment(deployment.id).devices
        return devices.count == 2 && devices.allSatisfy { $0.state == .successful }
      }
    }
  }

  @Test("a deployment of the version the device runs ends Successful at once: already-installed, no download")
  func alreadyInstalled() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("device-008")
      try await fleet.startAgent(config)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      for round in 1...2 {
        let deployment = try await client.createDeployment(
          .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-008"])))
        try await eventually("round \(round) to complete") {
          try await client.deployment(deployment.id).status == .completed
        }
        let events = try await #require(fleet.controller?.store).statusEvents(
          deployment: deployment.id, device: DeviceID("device-008"))
        if round == 2 {
          #expect(events.map(\.state) == [.successful])
          #expect(events.first?.stage == "already-installed")
        }
      }
      // The install script ran once.
      let runs = try String(contentsOfFile: "\(config.installDirectory)/runs.log", encoding: .utf8)
      #expect(runs.split(separator: "\n").count == 1)
      #expect(metricsRequests(fleet) == 1)
    }
  }
}

/// Artifact requests the in-process controller has answered.
private func metricsRequests(_ fleet: Fleet) -> Int64 { fleet.controller?.metrics.artifactRequestCount ?? -1 }
