import AirliftAgent
import AirliftCore
import Foundation
import Testing

@Suite("Agent downloads: resume, retries, limits")
struct DownloadResilienceTests {
  @Test("an agent stopped mid-download continues from the bytes on disk after it starts again")
  func resumesAfterRestart() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 6_000_000)
      let release = try await client.uploadRelease(package: "big", version: "1.0.0", file: bundle)
      let size = try #require(release.assets.first?.size)
      var config = try fleet.agentConfig("device-090")
      // 12 s for the whole file, so the stop lands mid-transfer however loaded the machine.
      config.maxBytesPerSecond = 500_000
      try await fleet.startAgent(config)
      let deployment = try await client.createDeployment(
        .init(package: "big", version: "1.0.0", target: .init(devices: ["device-090"])))
      // Watched on the device's disk, not through the controller's reports: nothing between the two to lag
      // behind a 6 s transfer on a loaded machine.
      let partial = "\(config.dataDirectory)/downloads/\(release.assets[0].sha256).part"
      try await eventually("a third of the download on disk") {
        ((try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber)?.int64Value ?? 0)
          >= size / 3
      }
      await fleet.stopAgent("device-090")
      let kept = try #require(try FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber).int64Value
      #expect(kept > 0 && kept < size)

      try await fleet.startAgent(config)
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      let store = try #require(fleet.controller?.store)
      let events = try await store.statusEvents(deployment: deployment.id, device: DeviceID("device-090"))
      let resumed = events.compactMap(\.stage).first { $0.hasPrefix("resumed at ") }
      let offset = try #require(resumed.flatMap { Int64($0.split(separator: " ")[2]) })
      #expect(offset >= kept)
      #expect(events.last?.state == .successful)
      // Nothing left behind.
      #expect(!FileManager.default.fileExists(atPath: partial))
    }
  }

  @Test("while the artifact server is down the agent reports Retrying with attempts, then succeeds")
  func retriesUntilTheServerIsBack() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      var config = try fleet.agentConfig("device-091")
      config.retryBaseDelay = 0.5
      config.retryMaxDelay = 1
      config.maxAttempts = 30
      config.connectTimeout = 1
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-091"]), allowUnknownDevices: true))

      try await fleet.waitForNotice(device: "device-091", deployment: deployment.id)
      await fleet.stopController()
      let agent = try Agent(config: config, logger: Fleet.quietLogger)
      let agentTask = Task { try await agent.run() }
      defer { agentTask.cancel() }
      let agentStore = agent.store
      try await eventually("the agent to retry") { try agentStore.update(deployment.id)?.state == .retrying }
      // Connect timeout 1 s, backoff at most 1 s: a few more attempts fail.
      try await Task.sleep(for: .seconds(5))

      try await fleet.startControllerNow()
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      let store = try #require(fleet.controller?.store)
      let events = try await store.statusEvents(deployment: deployment.id, device: DeviceID("device-091"))
      let retries = events.filter { $0.state == .retrying }
      #expect(retries.count >= 2)
      #expect(retries.allSatisfy { ($0.attempt ?? 0) >= 2 && ($0.error ?? "").contains("download of") })
      #expect(retries.map { $0.attempt ?? 0 } == retries.map { $0.attempt ?? 0 }.sorted())
      #expect(events.last?.state == .successful)
      #expect(try await client.deployment(deployment.id).devices.first?.attempts ?? 0 >= 2)
    }
  }

  @Test("when the retry budget is spent the device ends Failed with the last reason")
  func givesUpAfterTheBudget() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      var config = try fleet.agentConfig("device-092")
      config.retryBaseDelay = 0.1
      config.retryMaxDelay = 0.2
      config.maxAttempts = 3
      config.connectTimeout = 1
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-092"]), allowUnknownDevices: true))
      try await fleet.waitForNotice(device: "device-092", deployment: deployment.id)
      await fleet.stopController()
      let agent = try Agent(config: config, logger: Fleet.quietLogger)
      let agentTask = Task { try await agent.run() }
      defer { agentTask.cancel() }
      let agentStore = agent.store
      try await eventually("the agent to give up") { try agentStore.update(deployment.id)?.state == .failed }
      let error = try #require(try agentStore.update(deployment.id)?.progress.error)
      #expect(error.contains("gave up after 3 attempts"))

      try await fleet.startControllerNow()
      try await eventually("the controller to learn of the failure") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
    }
  }

  /// A fleet whose artifact URLs go through a proxy the test can cut or stall.
  private func throughProxy(_ body: (Fleet, LoopbackProxy) async throws -> Void) async throws {
    try await Fleet.with(controller: false) { fleet in
      let proxy = try await LoopbackProxy.start(to: fleet.httpsPort)
      defer { proxy.stop() }
      try await fleet.startControllerNow(publicURL: "https://127.0.0.1:\(proxy.port)")
      try await body(fleet, proxy)
    }
  }

  @Test("a connection dropped mid-transfer is retried and continues from the bytes on disk (Range)")
  func resumesAfterADroppedConnection() async throws {
    try await throughProxy { fleet, proxy in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 3_000_000)
      _ = try await client.uploadRelease(package: "big", version: "1.0.0", file: bundle)
      var config = try fleet.agentConfig("device-093")
      config.retryBaseDelay = 0.2
      config.retryMaxDelay = 0.5
      try await fleet.startAgent(config)
      // The proxy cuts the link by itself a third of the way in, however fast this machine is today.
      proxy.on(.cut, afterBytes: 1_000_000)
      let deployment = try await client.createDeployment(
        .init(package: "big", version: "1.0.0", target: .init(devices: ["device-093"])))
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: deployment.id, device: DeviceID("device-093"))
      let retry = try #require(events.first { $0.state == .retrying })
      #expect(retry.attempt == 2 && retry.error?.contains("connection lost after") == true)
      let lost = try #require(
        retry.error.flatMap { $0.split(separator: " ").drop { $0 != "after" }.dropFirst().first }.flatMap { Int64($0) })
      let resumed = try #require(events.compactMap(\.stage).first { $0.hasPrefix("resumed at ") })
      #expect(try #require(Int64(resumed.split(separator: " ")[2])) >= lost)
      #expect(events.last?.state == .successful)
      #expect(proxy.connections >= 2)
    }
  }

  @Test("a transfer that stalls is cut after stallTimeout and retried")
  func stallTimeout() async throws {
    try await throughProxy { fleet, proxy in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 2_000_000)
      _ = try await client.uploadRelease(package: "big", version: "1.0.0", file: bundle)
      var config = try fleet.agentConfig("device-094")
      // Long enough for a healthy connection's first bytes on a loaded machine; the stalled one never sends more.
      config.stallTimeout = 3
      config.maxBytesPerSecond = 1_000_000
      config.retryBaseDelay = 0.2
      config.retryMaxDelay = 0.5
      config.maxAttempts = 10
      try await fleet.startAgent(config)
      // The proxy hangs that connection by itself a quarter of the way in; the retry's connection flows.
      proxy.on(.stall, afterBytes: 500_000)
      let deployment = try await client.createDeployment(
        .init(package: "big", version: "1.0.0", target: .init(devices: ["device-094"])))
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: deployment.id, device: DeviceID("device-094"))
      let retry = try #require(events.first { $0.state == .retrying })
      #expect(retry.error?.contains("readTimeout") == true)
      #expect(events.last?.state == .successful)
    }
  }

  @Test("while the broker is down the update goes on; every report arrives afterwards, in order")
  func reportsQueuedWhileTheBrokerIsDown() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 2_000_000)
      _ = try await client.uploadRelease(package: "big", version: "1.0.0", file: bundle)
      var config = try fleet.agentConfig("device-095")
      config.maxBytesPerSecond = 1_000_000
      let agent = try await fleet.startAgent(config)
      let deployment = try await client.createDeployment(
        .init(package: "big", version: "1.0.0", target: .init(devices: ["device-095"])))
      try await eventually("the download to start") {
        (try await client.deployment(deployment.id).devices.first?.percent ?? 0) >= 10
      }
      fleet.killBroker()
      try await eventually("the update to finish on the device") {
        try agent.store.update(deployment.id)?.state == .successful
      }
      // What the controller heard meanwhile depends on timing (the agent also sends what the broker did not take
      // over HTTPS); what matters is below: every report arrives, in order.

      try await fleet.startBroker()
      // Through the broker, or sent again over HTTPS if the broker lost some.
      let store = try #require(fleet.controller?.store)
      let complete: [DeviceState] = [.pending, .downloading, .downloaded, .installing, .verifying, .successful]
      var states: [DeviceState] = []
      do {
        try await eventually("every queued report to arrive") {
          states = try await store.statusEvents(deployment: deployment.id, device: DeviceID("device-095")).map(
            \.state
          )
          .reduce(into: [DeviceState]()) { if $0.last != $1 { $0.append($1) } }
          return states == complete
        }
      } catch {
        // Seen once in five loaded runs: say what had arrived and what the agent still holds.
        throw HarnessError.timedOut(
          "every queued report to arrive: the controller has \(states.map(\.rawValue)), the agent's outbox holds "
            + "\((try? agent.store.outboxCount()).map(String.init) ?? "?") report(s)")
      }
      #expect(states == complete)
      #expect(try await client.deployment(deployment.id).devices.first?.state == .successful)
      let events = try await store.statusEvents(deployment: deployment.id, device: DeviceID("device-095"))
      #expect(events.map(\.time) == events.map(\.time).sorted())
      let percents = events.filter { $0.state == .downloading }.compactMap(\.percent)
      #expect(percents == percents.sorted() && percents.last ?? 0 > 10)
    }
  }

  @Test("reports a broker lost (it crashed before saving; nobody was subscribed) reach the controller over HTTPS")
  func lostReportsAreSentAgain() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let gate = "\(fleet.root)/device-096-may-finish"
      let bundle = try ReleaseBundle.make(
        in: fleet.root, install: ReleaseBundle.gatedInstall(gate), payloadBytes: 2_000_000)
      _ = try await client.uploadRelease(package: "big", version: "1.0.0", file: bundle)
      let agent = try await fleet.startAgent(try fleet.agentConfig("device-096"))
      let deployment = try await client.createDeployment(
        .init(package: "big", version: "1.0.0", target: .init(devices: ["device-096"])))
      try await eventually("the install to start") { try agent.store.update(deployment.id)?.state == .installing }
      // The controller goes away, the broker crashes and comes back with no saved state:
      // no session of the controller, so what the agent publishes now reaches nobody.
      await fleet.stopController()
      fleet.killBroker()
      try? FileManager.default.removeItem(atPath: "\(fleet.root)/broker/mosquitto.db")
      try await fleet.startBroker()
      FileManager.default.createFile(atPath: gate, contents: nil)
      try await eventually("the update to finish and every report to be published (into the void)") {
        try agent.store.update(deployment.id)?.state == .successful && agent.store.outboxCount() == 0
      }
      try await fleet.startControllerNow()
      try await eventually("the lost reports to arrive", within: 60) {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: deployment.id, device: DeviceID("device-096"))
      let states = events.map(\.state).reduce(into: [DeviceState]()) { if $0.last != $1 { $0.append($1) } }
      let seen = events.map { "\($0.state.rawValue)#\($0.seq ?? -1)@\($0.time.timeIntervalSince1970)" }
      #expect(states == [.pending, .downloading, .downloaded, .installing, .verifying, .successful], "\(seen)")
      let seqs = events.compactMap(\.seq)
      #expect(seqs.count == events.count && Set(seqs).count == seqs.count && seqs == seqs.sorted(), "\(seen)")
    }
  }
}
