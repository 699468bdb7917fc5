import AirliftAgent
import AirliftClient
import AirliftCore
import AirliftCrypto
import AirliftMQTT
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing

@Suite("Controller: HTTPS API, artifacts and MQTT intake")
struct ControllerAPITests {
  private func httpClient(_ fleet: Fleet, certificate: String, key: String) throws -> HTTPClient {
    try fleet.httpClient(certificate: certificate, key: key)
  }

  @Test("artifacts are served by digest, with Range requests answered 206")
  func artifactRanges() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let file = "\(fleet.root)/artifact.bin"
      let content = (0..<100_000).map { UInt8($0 % 251) }
      try Data(content).write(to: URL(fileURLWithPath: file))
      let release = try await client.uploadRelease(package: "data", version: "1.0.0", file: file)
      let digest = try #require(release.assets.first?.sha256)
      #expect(digest == SHA256Hasher.hex(of: content))

      let device = try fleet.issueDevice("device-010")
      let http = try httpClient(fleet, certificate: device.certificate, key: device.key)
      defer { _ = http.shutdown() }
      var request = HTTPClientRequest(url: "\(fleet.controllerURL)/artifacts/\(digest)")
      request.headers.add(name: "Range", value: "bytes=1000-1999")
      let partial = try await http.execute(request, timeout: requestTimeout)
      #expect(partial.status == .partialContent)
      #expect(partial.headers.first(name: "Content-Range") == "bytes 1000-1999/100000")
      let body = try await partial.body.collect(upTo: 1 << 20)
      #expect(Array(body.readableBytesView) == Array(content[1000...1999]))

      let whole = try await http.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/artifacts/\(digest)"), timeout: requestTimeout)
      #expect(whole.status == .ok)
      #expect(Array(try await whole.body.collect(upTo: 1 << 20).readableBytesView) == content)

      var beyond = HTTPClientRequest(url: "\(fleet.controllerURL)/artifacts/\(digest)")
      beyond.headers.add(name: "Range", value: "bytes=200000-")
      #expect(try await http.execute(beyond, timeout: requestTimeout).status == .rangeNotSatisfiable)
    }
  }

  @Test("a device certificate cannot use the operator API")
  func devicesAreNotOperators() async throws {
    try await Fleet.with { fleet in
      let device = try fleet.issueDevice("device-011")
      let http = try httpClient(fleet, certificate: device.certificate, key: device.key)
      defer { _ = http.shutdown() }
      let response = try await http.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/api/v1/devices"), timeout: requestTimeout)
      #expect(response.status == .forbidden)
    }
  }

  @Test("invalid uploads and deployments get a clear error and change nothing")
  func invalidRequests() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      await #expect(throws: ClientError.self) {
        try await client.uploadRelease(package: "hello", version: "1.0", file: bundle)
      }
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      do {
        _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
        Issue.record("a second upload of the same version was accepted")
      } catch let error as ClientError {
        #expect(error.description.contains("409"))
        #expect(error.description.contains("immutable"))
      }
      do {
        _ = try await client.createDeployment(
          .init(package: "hello", version: "9.9.9", target: .init(devices: ["device-1"])))
        Issue.record("a deployment of a missing release was accepted")
      } catch let error as ClientError {
        #expect(error.description.contains("not found"))
      }
      await #expect(throws: ClientError.self) {
        try await client.createDeployment(
          .init(package: "hello", version: "1.0.0", target: .init(devices: ["../etc"])))
      }
      #expect(try await client.releases().count == 1)
      #expect(try await client.deployments().isEmpty)
    }
  }

  @Test("malformed device messages are dropped with a reason; later valid ones still count")
  func malformedPayloadsDoNotStopIntake() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let device = try fleet.issueDevice("device-012")
      let mqtt = try fleet.mqttClient(certificate: device.certificate, key: device.key, clientID: "device-012")
      try await mqtt.connect()
      defer { Task { await mqtt.close() } }
      let id = try DeviceID("device-012")
      for garbage in ["not json", "{}", "{\"v\":2}", "[1,2]", "{\"v\":1,\"device\":\"device-012\"}"] {
        try await mqtt.publish(Topics.device(id, .checkin), payload: Array(garbage.utf8), qos: 1)
        try await mqtt.publish(Topics.device(id, .status), payload: Array(garbage.utf8), qos: 1)
      }
      // A check-in that names another device on this device's topic is refused too.
      let forged = CheckIn(device: try DeviceID("device-999"), attributes: [:], installed: [:], agentVersion: "x")
      try await mqtt.publish(Topics.device(id, .checkin), payload: Wire.encode(forged), qos: 1)
      let genuine = CheckIn(device: id, attributes: ["model": "gw-7"], installed: ["os": "1.0.0"], agentVersion: "t")
      try await mqtt.publish(Topics.device(id, .checkin), payload: Wire.encode(genuine), qos: 1)
      try await eventually("the genuine check-in") {
        try await client.devices().contains { $0.id == "device-012" && $0.attributes["model"] == "gw-7" }
      }
      #expect(try await client.devices().map(\.id) == ["device-012"])
    }
  }

  @Test("a device that joins a guessed shared-subscription group swallows no other device's reports")
  func sharedGroupCannotBeJoined() async throws {
    try await Fleet.with { fleet in
      let store = try #require(fleet.controller?.store)
      let thiefCert = try fleet.issueDevice("device-020")
      let thief = try fleet.mqttClient(certificate: thiefCert.certificate, key: thiefCert.key, clientID: "device-020")
      try await thief.connect()
      defer { Task { await thief.close() } }
      // Mosquitto's ACL file does not check SUBSCRIBE: these joins succeed.
      for group in ["airlift", "airlift-controller", "controller"] {
        _ = try await thief.subscribe(Topics.sharedAllDevices(.status, group: group))
      }
      let reporterCert = try fleet.issueDevice("device-021")
      let reporter = try fleet.mqttClient(
        certificate: reporterCert.certificate, key: reporterCert.key, clientID: "device-021")
      try await reporter.connect()
      defer { Task { await reporter.close() } }
      let id = try DeviceID("device-021")
      for index in 0..<12 {
        let report = StatusReport(deployment: "dep-\(index)", state: .downloading, percent: index)
        try await reporter.publish(Topics.device(id, .status), payload: Wire.encode(report), qos: 1)
      }
      try await eventually("all twelve reports at the controller") {
        for index in 0..<12 where try await store.statusEvents(deployment: "dep-\(index)", device: id).count != 1 {
          return false
        }
        return true
      }
    }
  }

  @Test("a read-only operator reads everything and changes nothing")
  func readOnlyOperators() async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerNow(readers: ["airlift-reader"])
      try Fleet.run("\(Fleet.repository)/Certs/new-operator", ["airlift-reader", "--out", fleet.certs])
      let reader = try ControllerClient(
        baseURL: fleet.controllerURL, caFile: "\(fleet.certs)/ca.crt",
        certificate: "\(fleet.certs)/operators/airlift-reader.crt", key: "\(fleet.certs)/operators/airlift-reader.key")
      defer { Task { await reader.shutdown() } }
      #expect(try await reader.releases().isEmpty)
      #expect(try await reader.devices().isEmpty)
      do {
        _ = try await reader.createGroup("nope")
        Issue.record("a read-only operator created a group")
      } catch let error as ClientError {
        guard case .refused(403, "read_only", _) = error else { throw error }
      }
      #expect(try await fleet.client!.groups().isEmpty)
    }
  }
}
