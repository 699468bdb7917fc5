import AirliftClient
import AirliftCore
import Foundation
import Testing

@Suite("Deployment lifecycle with real agents")
struct DeploymentLifecycleTests {
  /// Uploads the recording bundle as `pkg@version`.
  private func release(_ fleet: Fleet, _ package: String = "hello", _ version: String = "1.0.0") async throws {
    let bundle = try ReleaseBundle.make(in: fleet.root, name: "\(package)-\(version).tar.gz")
    _ = try await fleet.client!.uploadRelease(package: package, version: version, file: bundle)
  }

  private func state(_ client: ControllerClient, _ id: String, _ device: String) async throws -> DeviceState? {
    try await client.deployment(id).devices.first { $0.device == device }?.state
  }

  @Test(
    "airlift deploy pause, resume, promote, approve and abort through the real binary: a line each, a refusal is the server's message and exit 1"
  )
  func changesThroughTheCommandLine() async throws {
    try await Fleet.with { fleet in
      try await release(fleet)
      let deployment = try await fleet.client!.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["cli-1"]), allowUnknownDevices: true))
      let id = deployment.id
      func airlift(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await UpdateFlowIntegrationTests.airlift(fleet, ["deploy"] + arguments)
      }
      let paused = try await airlift(["pause", id, "--reason", "checking"])
      #expect(paused.status == 0 && paused.output.contains("\(id) Paused"), "\(paused)")
      let resumed = try await airlift(["resume", id])
      #expect(resumed.status == 0 && resumed.output.contains("\(id) Active"), "\(resumed)")
      let promoted = try await airlift(["promote", id])
      #expect(promoted.status == 1 && promoted.output.contains("invalid_transition"), "\(promoted)")
      let approved = try await airlift(["approve", id])
      #expect(approved.status == 1 && approved.output.contains("approval_refused"), "\(approved)")
      let aborted = try await airlift(["abort", id, "--reason", "done checking", "--json"])
      #expect(aborted.status == 0 && aborted.output.contains("\"status\" : \"Aborted\""), "\(aborted)")
      #expect(try await fleet.client!.deployment(id).reason?.contains("done checking") == true)
    }
  }

  @Test("abort: a device that had not started never installs; the retained notice is withdrawn")
  func abortWithdrawsPendingDevices() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await release(fleet)
      let online = try fleet.agentConfig("device-050")
      try await fleet.startAgent(online)
      let later = try fleet.agentConfig("device-051")
      let deployment = try await client.createDeployment(
        .init(
          package: "hello", version: "1.0.0", target: .init(devices: ["device-050", "device-051"]),
          allowUnknownDevices: true))
      try await eventually("device-050 to succeed") {
        try await state(client, deployment.id, "device-050") == .successful
      }

      let aborted = try await client.changeDeployment(deployment.id, action: "abort", reason: "bad batch")
      #expect(aborted.status == .aborted)
      #expect(aborted.reason == "bad batch")
      try await fleet.startAgent(later)
      try await Task.sleep(for: .seconds(2))
      #expect(!FileManager.default.fileExists(atPath: "\(later.installDirectory)/runs.log"))
      #expect(try await state(client, deployment.id, "device-051") == .pending)
      await #expect(throws: ClientError.self) { try await client.changeDeployment(deployment.id, action: "resume") }
    }
  }

  @Test("pause holds devices that had not started; resume lets them go")
  func pauseAndResume() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await release(fleet)
      let config = try fleet.agentConfig("device-052")
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-052"]), allowUnknownDevices: true))
      #expect(try await client.changeDeployment(deployment.id, action: "pause").status == .paused)
      try await fleet.startAgent(config)
      try await Task.sleep(for: .seconds(2))
      #expect(try await state(client, deployment.id, "device-052") == .pending)
      #expect(try await client.changeDeployment(deployment.id, action: "resume").status == .active)
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      #expect(try await state(client, deployment.id, "device-052") == .successful)
    }
  }

  @Test("a second deployment for a busy device is refused, naming it; --supersede takes it over")
  func oneLiveDeploymentPerDevice() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await release(fleet, "hello", "1.0.0")
      try await release(fleet, "hello", "1.1.0")
      let first = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-053"]), allowUnknownDevices: true))
      do {
        _ = try await client.createDeployment(
          .init(package: "hello", version: "1.1.0", target: .init(devices: ["device-053"]), allowUnknownDevices: true))
        Issue.record("a second live deployment for the same device was accepted")
      } catch let error as ClientError {
        guard case .refused(409, "devices_busy", let message) = error else { throw error }
        #expect(message.contains("device-053 (in \(first.id))"))
      }
      let second = try await client.createDeployment(
        .init(
          package: "hello", version: "1.1.0", target: .init(devices: ["device-053"]), supersede: true,
          allowUnknownDevices: true))
      #expect(try await client.deployment(first.id).devices.isEmpty)
      let config = try fleet.agentConfig("device-053")
      try await fleet.startAgent(config)
      try await eventually("the second deployment to complete") {
        try await client.deployment(second.id).status == .completed
      }
      #expect(try String(contentsOfFile: "\(config.installDirectory)/version", encoding: .utf8) == "1.1.0")
    }
  }

  @Test("a group deployment reaches devices added to the group while it is active")
  func groupLateJoiner() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await release(fleet)
      try await fleet.startAgent(try fleet.agentConfig("device-054"))
      try await fleet.startAgent(try fleet.agentConfig("device-055"))
      _ = try await client.createGroup("eu-gateways")
      _ = try await client.addToGroup("eu-gateways", devices: ["device-054"])
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(group: "eu-gateways")))
      #expect(deployment.devices.map(\.device) == ["device-054"])
      try await eventually("device-054 to succeed") {
        try await state(client, deployment.id, "device-054") == .successful
      }
      _ = try await client.addToGroup("eu-gateways", devices: ["device-055"])
      try await eventually("device-055 to join and succeed") {
        try await state(client, deployment.id, "device-055") == .successful
      }
      #expect(try await client.devices(group: "eu-gateways").map(\.id) == ["device-054", "device-055"])
      let detail = try await client.device("device-055")
      #expect(detail.groups == ["eu-gateways"])
      #expect(detail.history.map(\.deployment) == [deployment.id])
    }
  }

  @Test("limits: at most N devices; a device past its timeout fails; a scheduled start waits")
  func limitsTimeoutsAndSchedules() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await release(fleet)
      // The install blocks until the test lets it go, after the controller has failed the device for its 1 s
      // timeout: on a loaded machine a fixed sleep could end before the controller's next look.
      let marker = "\(fleet.root)/slow-install"
      let slow = try ReleaseBundle.make(
        in: fleet.root, name: "slow.tar.gz", install: "#!/bin/sh\n" + TestScript.blockOnce(marker) + "\n")
      _ = try await client.uploadRelease(package: "slow", version: "1.0.0", file: slow)
      for id in ["device-056", "device-057"] { try await fleet.startAgent(try fleet.agentConfig(id)) }

      let limited = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(allDevices: true), maxDevices: 1))
      #expect(limited.devices.map(\.device) == ["device-056"])
      try await eventually("the limited deployment to complete") {
        try await client.deployment(limited.id).status == .completed
      }

      let timed = try await client.createDeployment(
        .init(
          package: "slow", version: "1.0.0", target: .init(devices: ["device-057"]), deviceTimeout: 1,
          allowUnknownDevices: true))
      try await eventually("device-057 to time out") { try await state(client, timed.id, "device-057") == .failed }
      let error = try await client.deployment(timed.id).devices.first?.error ?? ""
      #expect(error.contains("timed out"))
      _ = FileManager.default.createFile(atPath: "\(marker).release", contents: nil)

      let startAt = Date().addingTimeInterval(8)
      let scheduled = try await client.createDeployment(
        .init(
          package: "hello", version: "1.0.0", target: .init(devices: ["device-058"]), startAt: startAt,
          allowUnknownDevices: true))
      #expect(scheduled.status == .scheduled)
      try await fleet.startAgent(try fleet.agentConfig("device-058"))
      let before = try await state(client, scheduled.id, "device-058")
      // Connected before the start time, it waits (a machine so loaded that the agent's start took 8 s skips this).
      if Date() < startAt { #expect(before == .pending) }
      try await eventually("the scheduled deployment to start and complete") {
        try await client.deployment(scheduled.id).status == .completed
      }
    }
  }

  @Test("filters: group, app and version range, attributes, presence")
  func deviceFilters() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let fleetDevices: [(String, [String: String], [String: String])] = [
        ("device-060", ["region": "eu", "model": "gw-100"], ["gw-fw": "1.9.0"]),
        ("device-061", ["region": "eu", "model": "gw-200"], ["gw-fw": "2.0.0"]),
        ("device-062", ["region": "us", "model": "gw-100"], ["gw-fw": "2.0.0-rc.1"]),
        ("device-063", ["region": "eu", "model": "gw-100"], [:]),
      ]
      var certificates: [String: (certificate: String, key: String)] = [:]
      for (id, attributes, installed) in fleetDevices {
        let cert = try fleet.issueDevice(id)
        certificates[id] = cert
        let mqtt = try fleet.mqttClient(certificate: cert.certificate, key: cert.key, clientID: id)
        try await mqtt.connect()
        let device = try DeviceID(id)
        try await mqtt.publish(
          Topics.device(device, .checkin),
          payload: Wire.encode(CheckIn(device: device, attributes: attributes, installed: installed, agentVersion: "t"))
        )
        await mqtt.close()
      }
      try await eventually("four devices") { try await client.devices().count == 4 }
      // Offline only once its check-in is in: the controller handles check-ins and presence side by side, and a
      // check-in that came second would mark it online again.
      let cert = try #require(certificates["device-063"])
      let mqtt = try fleet.mqttClient(certificate: cert.certificate, key: cert.key, clientID: "device-063")
      try await mqtt.connect()
      try await mqtt.publish(
        Topics.device(try DeviceID("device-063"), .presence), payload: Wire.encode(Presence(.offline)))
      await mqtt.close()
      try await eventually("device-063 offline") {
        try await client.devices(online: false).map(\.id) == ["device-063"]
      }
      #expect(try await client.devices(app: "gw-fw", version: "<2.0.0").map(\.id) == ["device-060", "device-062"])
      #expect(try await client.devices(app: "gw-fw").count == 3)
      #expect(
        try await client.devices(attributes: ["region=eu", "model=gw-100"]).map(\.id) == ["device-060", "device-063"])
      _ = try await client.createGroup("canaries")
      _ = try await client.addToGroup("canaries", devices: ["device-061", "device-062"])
      #expect(try await client.devices(group: "canaries", app: "gw-fw", version: ">=2.0.0").map(\.id) == ["device-061"])
      do {
        _ = try await client.devices(app: "gw-fw", version: "<<2")
        Issue.record("a malformed version filter was accepted")
      } catch let error as ClientError {
        guard case .refused(400, "invalid_request", _) = error else { throw error }
      }
    }
  }
}
