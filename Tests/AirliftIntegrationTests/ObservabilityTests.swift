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
          HTTPClientRequest(url: "\(fleet.controllerURL)/metrics"), timeout: .seconds(10))
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
        HTTPClientRequest(url: "\(fleet.controllerURL)/metrics"), timeout: .seconds(10))
      #expect(refused.status.code == 403)
      let anonymous = try fleet.httpClient(anonymous: true)
      defer { _ = anonymous.shutdown() }
      let unknown = try await anonymous.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/metrics"), timeout: .seconds(10))
      #expect(unknown.status.code == 401)
    }
  }
}
