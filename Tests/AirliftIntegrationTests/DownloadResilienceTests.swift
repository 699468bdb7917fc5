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
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 3_000_000)
      let release = try await client.uploadRelease(package: "big", version: "1.0.0", file: bundle)
      let size = try #require(release.assets.first?.size)
      var config = try fleet.agentConfig("device-090")
      config.maxBytesPerSecond = 1_000_000
      try await fleet.startAgent(config)
      let deployment = try await client.createDeployment(
        .init(package: "big", version: "1.0.0", target: .init(devices: ["device-090"])))
      try await eventually("a third of the download") {
        (try await client.deployment(deployment.id).devices.first?.percent ?? 0) >= 30
      }
      await fleet.stopAgent("device-090")
      let partial = "\(config.dataDirectory)/downloads/\(release.assets[0].sha256).part"
      let kept = try #require(try FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber).int64Value
      #expect(kept > 0 && kept < size)

      try await fleet.startAgent(config)
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      let store = try #require(fleet.controller?.store)
      let events = try store.statusEvents(deployment: deployment.id, device: DeviceID("device-090"))
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
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-091"])))

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
      let events = try store.statusEvents(deployment: deployment.id, device: DeviceID("device-091"))
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
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["device-092"])))
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
}
