import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// Devices with `transport: https`: no broker session, a check-in over HTTPS every period.
@Suite("Polling devices: HTTPS check-ins beside MQTT devices in one fleet")
struct PollingDeviceTests {
  static func pollingConfig(_ fleet: Fleet, _ id: String, period: Int = 2, jitter: Int = 1) throws -> AgentConfig {
    var config = try fleet.agentConfig(id)
    config.transport = .https
    config.brokerURL = ""
    config.period = Period(seconds: period)
    config.jitter = Period(seconds: jitter)
    return config
  }

  @Test(
    "a polling and an MQTT device in one deployment both install; the polling one reports every stage over HTTPS; the fleet shows each transport, the next check-in, and a poller that stops calling goes offline"
  )
  func mixedFleet() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("mx-1"))
      let before = Date()
      try await fleet.startAgent(try Self.pollingConfig(fleet, "px-1"))
      let devices = Dictionary(uniqueKeysWithValues: try await client.devices().map { ($0.id, $0) })
      #expect(devices["mx-1"]?.transport == .mqtt && devices["mx-1"]?.nextCheckIn == nil)
      #expect(devices["px-1"]?.transport == .https)
      let next = try #require(devices["px-1"]?.nextCheckIn)
      #expect(next > before && next < Date().addingTimeInterval(4), "period 2 s + jitter ≤ 1 s: \(next)")

      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["mx-1", "px-1"])))
      try await eventually("both devices to install") {
        try await client.deployment(deployment.id).status == .completed
      }
      #expect(try await client.deployment(deployment.id).devices.allSatisfy { $0.state == .successful })
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: deployment.id, device: DeviceID("px-1"))
      var reported = events.map(\.state).makeIterator()
      let inOrder = [DeviceState.downloading, .downloaded, .installing, .successful].allSatisfy { wanted in
        while let state = reported.next() { if state == wanted { return true } }
        return false
      }
      #expect(inOrder && events.last?.state == .successful, "\(events.map(\.state))")
      let seqs = events.compactMap(\.seq)
      #expect(seqs.count == events.count && Set(seqs).count == seqs.count, "each report once")
      // The check-in after the update carries the new inventory.
      try await eventually("px-1 to report app 1.0.0") {
        try await client.device("px-1").device.installed["app"] == "1.0.0"
      }

      // The CLI shows the transport.
      let (status, output) = try await Fleet.execute(
        try Fleet.builtBinary("airlift"),
        ["device", "list", "--controller", fleet.controllerURL, "--certs", fleet.certs])
      #expect(status == 0)
      #expect(output.split(separator: "\n").contains { $0.hasPrefix("px-1") && $0.contains("https") }, "\(output)")

      let token = try await client.createToken(name: "poll-viewer", role: .reader)
      let browser = DashboardTests.Browser(fleet)
      _ = try await browser.login(token.secret)
      let page = try await browser.request("/ui/devices/px-1")
      #expect(page.body.contains(#"<span id="transport">HTTPS polling, next check-in by"#), "\(page.body.prefix(3000))")
      #expect(try await browser.request("/ui/devices/mx-1").body.contains(#"<span id="transport">MQTT</span>"#))
      await browser.shutdown()

      // A poller that stops calling is offline once its promised check-in (plus 10 s) has passed.
      await fleet.stopAgent("px-1")
      try await eventually("px-1 to be marked offline", within: 30) {
        try await client.device("px-1").device.online == false
      }
      #expect(try await client.device("mx-1").device.online)
    }
  }

  @Test("a deployment waits Pending for a polling device's next check-in; its device timeout counts from that check-in")
  func pendingUntilCheckIn() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let config = try Self.pollingConfig(fleet, "px-2", period: 1, jitter: 0)
      try await fleet.startAgent(config)
      await fleet.stopAgent("px-2")
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["px-2"]), deviceTimeout: 20))
      // Longer than the device timeout: an MQTT device would have failed by now ("did not start"). The timeout
      // leaves the device room to install once it checks in on a loaded CI machine (10 s did not, once).
      try await Task.sleep(for: .seconds(22))
      let waiting = try await client.deployment(deployment.id)
      #expect(waiting.devices.first?.state == .pending && waiting.status == .active, "\(waiting.devices)")

      try await fleet.startAgent(config)
      try await eventually("px-2 to install at its check-in") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
    }
  }

  @Test("reports made while the controller is away wait in the outbox and arrive once, complete")
  func reportsSurviveAnOutage() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let agent = try await fleet.startAgent(try Self.pollingConfig(fleet, "px-3", period: 1, jitter: 0))
      let gate = "\(fleet.root)/px-3-may-finish"
      _ = try await client.uploadRelease(
        package: "app", version: "1.0.0",
        file: try ReleaseBundle.make(in: fleet.root, install: ReleaseBundle.gatedInstall(gate)))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["px-3"])))
      let store = agent.store
      try await eventually("px-3 to be installing") { try store.update(deployment.id)?.state == .installing }
      await fleet.stopController()
      FileManager.default.createFile(atPath: gate, contents: nil)
      try await eventually("the install to end on the device") {
        try store.update(deployment.id)?.state == .successful
      }
      #expect(try store.outboxCount() > 0, "the Successful report waits for the controller")

      try await fleet.startControllerNow()
      try await eventually("the controller to hear the end") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: deployment.id, device: DeviceID("px-3"))
      #expect(events.filter { $0.state == .successful }.count == 1)
      let seqs = events.compactMap(\.seq)
      #expect(Set(seqs).count == seqs.count && seqs == seqs.sorted())
    }
  }
}
