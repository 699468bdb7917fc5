import AirliftAgent
import AirliftClient
import AirliftCore
import AsyncHTTPClient
import Foundation
import Testing

@Suite("Metrics, JSON logs and the agent's status")
struct ObservabilityTests {
  /// One sample of the Prometheus text format: `name{labels} value`.
  static func samples(_ text: String) -> [String: Double] {
    text.split(separator: "\n").reduce(into: [:]) { samples, line in
      guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[space...].dropFirst())
      else { return }
      samples[String(line[..<space])] = value
    }
  }

  @Test("/metrics counts what a deployment did: devices, status events by state, batches, artifact bytes, HTTP routes")
  func metricsAfterADeployment() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("device-120"))
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 20_000)
      let size = try #require(try FileManager.default.attributesOfItem(atPath: bundle)[.size] as? Int)
      _ = try await client.uploadRelease(package: "hello", version: "5.0.0", file: bundle)
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "5.0.0", target: .init(devices: ["device-120"])))
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }

      let http = try fleet.httpClient()
      defer { _ = http.shutdown() }
      func scrape() async throws -> (UInt, String) {
        let response = try await http.execute(
          HTTPClientRequest(url: "\(fleet.controllerURL)/metrics"), timeout: requestTimeout)
        return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
      }
      var metrics: [String: Double] = [:]
      try await eventually("Successful to be stored and counted") {
        let (status, text) = try await scrape()
        metrics = Self.samples(text)
        return status == 200 && metrics[#"airlift_status_events_stored_total{state="Successful"}"#] == 1
      }
      #expect(metrics[#"airlift_status_events_received_total{state="Successful"}"#] == 1)
      #expect(metrics[#"airlift_status_events_stored_total{state="Downloading"}"#] ?? 0 >= 1)
      #expect(metrics["airlift_status_batches_total"] ?? 0 >= 1)
      #expect(metrics["airlift_status_batch_size_count"] == metrics["airlift_status_batches_total"])
      #expect(metrics["airlift_status_batch_seconds_count"] == metrics["airlift_status_batches_total"])
      #expect(metrics["airlift_devices_connected"] == 1)
      #expect(metrics[#"airlift_deployments{status="Completed"}"#] == 1)
      #expect(metrics["airlift_artifact_bytes_sent_total"] ?? 0 >= Double(size))
      #expect(metrics["airlift_mqtt_publishes_total"] ?? 0 >= 1)
      #expect(metrics["airlift_mqtt_publish_errors_total"] == 0)
      #expect(metrics["process_open_fds"] ?? 0 > 0)
      #expect(metrics["process_resident_memory_bytes"] ?? 0 > 1_000_000)
      // HTTP requests are labelled by route pattern, never by the id in the path (bounded label values).
      let routes = metrics.keys.filter { $0.hasPrefix("airlift_http_requests_total{") }
      #expect(routes.contains { $0.contains(#"route="/api/v1/deployments"#) && $0.contains(#"method="POST""#) })
      #expect(!routes.contains { $0.contains(deployment.id) })

      // Devices and anonymous callers get nothing.
      let device = try fleet.issueDevice("device-121")
      let asDevice = try fleet.httpClient(certificate: device.certificate, key: device.key)
      defer { _ = asDevice.shutdown() }
      let refused = try await asDevice.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/metrics"), timeout: requestTimeout)
      #expect(refused.status.code == 403)
      let anonymous = try fleet.httpClient(anonymous: true)
      defer { _ = anonymous.shutdown() }
      let unknown = try await anonymous.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/metrics"), timeout: requestTimeout)
      #expect(unknown.status.code == 401)
    }
  }

  @Test(
    "--log-format json writes one JSON object per line with device and deployment fields; airlift-agent status tells the state, live and from the store"
  )
  func jsonLogsAndAgentStatus() async throws {
    try await Fleet.with(controller: false) { fleet in
      let controllerLog = try await fleet.startControllerProcess(arguments: ["--log-format", "json"])
      let client = try #require(fleet.client)
      let config = try fleet.agentConfig("device-122")
      let agentLog = try fleet.startAgentProcess(config, arguments: ["--log-format", "json", "--log-level", "debug"])
      try await eventually("device-122 to check in", within: 60) {
        try await client.devices().contains { $0.id == "device-122" && $0.online }
      }
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 30_000)
      let size = try #require(try FileManager.default.attributesOfItem(atPath: bundle)[.size] as? Int)
      _ = try await client.uploadRelease(package: "hello", version: "5.1.0", file: bundle)
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "5.1.0", target: .init(devices: ["device-122"])))
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }

      // The running agent answers on its socket.
      let agent = try Fleet.builtBinary("airlift-agent")
      let configPath = fleet.agentConfigPath("device-122")
      func status() async throws -> AgentStatus {
        let (code, output) = try await Fleet.execute(agent, ["status", "--config", configPath, "--json"])
        guard code == 0 else { throw HarnessError.setup("airlift-agent status failed: \(output)") }
        return try Wire.decode(AgentStatus.self, from: Array(output.utf8), topic: "status")
      }
      var live = try await status()
      try await eventually("the outbox to drain") {
        live = try await status()
        return live.queueLength == 0
      }
      #expect(live.device == "device-122")
      #expect(live.running && live.connected == true)
      #expect(live.state == "Idle")
      #expect(live.update?.deployment == deployment.id)
      #expect(live.update?.state == "Successful")
      #expect(live.installed == ["hello": "5.1.0"])
      #expect(live.bytesDownloaded >= Int64(size))
      #expect(live.lastCheckIn.map { Date().timeIntervalSince($0) < 120 } == true)
      #expect(live.lastError == nil)

      // Stopped, it is read from the store: same facts, not running.
      await fleet.killAgentProcess("device-122", SIGTERM)
      let stored = try await status()
      #expect(!stored.running && stored.connected == nil)
      #expect(stored.installed == live.installed && stored.bytesDownloaded == live.bytesDownloaded)
      #expect(stored.update?.deployment == live.update?.deployment && stored.update?.state == live.update?.state)
      // Times go through millisecond text once more on the live path.
      #expect(abs((stored.update?.updatedAt ?? .distantPast).timeIntervalSince(live.update?.updatedAt ?? .now)) < 0.01)
      let (_, text) = try await Fleet.execute(agent, ["status", "--config", configPath])
      #expect(text.contains("not running") && text.contains("hello 5.1.0") && text.contains("Successful"))

      // Every line of both logs is a JSON object; the fields say which device and deployment.
      func events(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
          let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
          return try #require(object, "not a JSON object: \(line)")
        }
      }
      let agentEvents = try events(agentLog)
      #expect(agentEvents.allSatisfy { $0["level"] is String && $0["message"] is String && $0["time"] is String })
      #expect(
        agentEvents.contains {
          $0["device"] as? String == "device-122" && $0["deployment"] as? String == deployment.id
            && ($0["message"] as? String)?.contains("ended Successful") == true
        })
      let controllerEvents = try events(controllerLog)
      #expect(!controllerEvents.isEmpty)
      #expect(controllerEvents.allSatisfy { $0["level"] is String && $0["message"] is String })
      let controllerText = try String(contentsOfFile: controllerLog, encoding: .utf8)
      #expect(controllerEvents.contains { $0["device"] as? String == "device-122" }, "\(controllerText)")
      #expect(controllerEvents.contains { $0["deployment"] as? String == deployment.id })
    }
  }
}
