import AirliftClient
import AirliftController
import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// Several controllers, as docs/scale.md runs them: `airlift serve`
/// processes sharing one PostgreSQL database, one broker (each status event
/// reaches one of them through the shared subscription) and one data
/// folder, behind nginx, which terminates the callers' TLS.
@Suite("Scale-out: two controllers on one PostgreSQL behind nginx")
struct ScaleOutTests {
  @Test(
    "a phased rollout finishes after one of two controllers is killed: every device's history complete, no event stored twice, both controllers handled events"
  )
  func oneOfTwoKilled() async throws {
    try await Fleet.with(controller: false) { fleet in
      let database = try await PostgresServer.shared().createDatabase(prefix: "scale")
      let ports = [try Loopback.freePort(), try Loopback.freePort()]
      let proxy = try await TLSProxy.start(in: fleet.root, certs: fleet.certs, controllerPorts: ports)
      defer { proxy.stop() }
      let binary = try Fleet.builtBinary("airlift")
      var controllers: [ChildProcess] = []
      defer {
        for controller in controllers {
          kill(controller.processIdentifier, SIGKILL)
          controller.waitUntilExit()
        }
      }
      for (index, port) in ports.enumerated() {
        var config = ControllerConfig(
          port: port, dataDirectory: "\(fleet.root)/shared", certificates: fleet.certs, brokerURL: fleet.brokerURL,
          publicURL: proxy.url, mqttClientID: "airlift-controller-\(index + 1)", crlFile: fleet.crlFile)
        config.store = database
        // The broker binds a session to the certificate's CN: each controller has an identity of its own.
        config.mqttIdentity = index == 0 ? nil : "\(index + 1)"
        config.trustedProxies = [TLSProxy.address]
        // The broker stops giving a dead controller's session its share of the events once the session expires.
        config.mqttSessionExpiry = 2
        let path = "\(fleet.root)/controller-\(index + 1).json"
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: path))
        controllers.append(
          try ChildProcess.spawn(
            binary, ["serve", "--config", path], output: "\(fleet.root)/controller-\(index + 1).log"))
      }
      let direct = try ports.map { port in
        try ControllerClient(
          baseURL: "https://127.0.0.1:\(port)", caFile: "\(fleet.certs)/ca.crt",
          certificate: "\(fleet.certs)/operator.crt", key: "\(fleet.certs)/operator.key", signer: try fleet.signingKey)
      }
      for (index, client) in direct.enumerated() {
        try await eventually("controller \(index + 1)", within: 90) { await client.isHealthy() }
      }
      let client = try ControllerClient(
        baseURL: proxy.url, caFile: "\(fleet.certs)/ca.crt", certificate: "\(fleet.certs)/operator.crt",
        key: "\(fleet.certs)/operator.key", signer: try fleet.signingKey)

      do {
        let ids = (1...12).map { String(format: "so-%05d", $0) }
        let simulator = try Fleet.startBackground(
          try Fleet.builtBinary("airlift-sim"),
          [
            "run", "--devices", "\(ids.count)", "--prefix", "so", "--broker", fleet.brokerURL, "--certs", fleet.certs,
            "--install-time", "0.3", "--duration", "300",
          ], log: "\(fleet.root)/sim.log")
        defer {
          kill(simulator.processIdentifier, SIGKILL)
          simulator.waitUntilExit()
        }
        try await eventually("the simulated devices to check in", within: 90) {
          try await client.devices().filter { $0.online && ids.contains($0.id) }.count == ids.count
        }
        _ = try await client.uploadRelease(
          package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
        let created = try await client.createDeployment(
          .init(
            package: "app", version: "1.0.0", target: .init(devices: ids),
            // Long enough that the second phase starts well after the killed controller's session expired (2 s):
            // the broker hands that session its share of the events until then, and simulated devices do not
            // send them again as agents do.
            rollout: RolloutPlan(phases: [.count(4), .percent(100)], soakSeconds: 15)))

        // The first phase ends; during its soak, one controller is killed.
        try await eventually("the first phase to succeed", within: 90) {
          try await client.deployment(created.id).devices.filter { $0.state == .successful }.count == 4
        }
        let http = try fleet.httpClient()
        defer { _ = http.shutdown() }
        func received(_ port: Int) async throws -> Double {
          let response = try await http.execute(
            HTTPClientRequest(url: "https://127.0.0.1:\(port)/metrics"), timeout: requestTimeout)
          let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
          return ObservabilityTests.samples(text).filter { $0.key.hasPrefix("airlift_status_events_received_total{") }
            .values.reduce(0, +)
        }
        let firstShare = try await received(ports[0])
        kill(controllers[0].processIdentifier, SIGKILL)
        controllers[0].waitUntilExit()

        // The other controller takes the scheduler over, starts the second phase, and takes every event.
        try await eventually("the rollout to complete on the remaining controller", within: 120) {
          try await client.deployment(created.id).status == .completed
        }
        let secondShare = try await received(ports[1])
        let done = try await client.deployment(created.id)
        #expect(done.devices.count == ids.count)
        #expect(done.devices.allSatisfy { $0.state == .successful })
        #expect(done.rollout?.phase == 2)

        let store = try ControllerStore(location: database)
        for id in ids {
          let events = try await store.statusEvents(deployment: created.id, device: DeviceID(id))
          #expect(events.map(\.state) == [.downloading, .downloaded, .installing, .successful], "\(id)")
          #expect(Set(events.compactMap(\.seq)).count == events.count, "\(id)")
        }
        let server = try await PostgresServer.shared()
        let name = String(database.split(separator: "/").last ?? "")
        // Device events only (a deployment's notes are stored with device '').
        let counts = try await server.psql(
          name,
          "SELECT count(*) || ' ' || count(DISTINCT (device_id, seq)) FROM status_event WHERE deployment_id = '\(created.id)' AND device_id <> ''"
        )
        #expect(counts == "\(ids.count * 4) \(ids.count * 4)")
        #expect(firstShare > 0 && secondShare > 0, "events handled: \(firstShare) and \(secondShare)")
        Self.log("two controllers: the killed one had handled \(Int(firstShare)) events, the other \(Int(secondShare))")
      } catch {
        for client in direct + [client] { await client.shutdown() }
        throw error
      }
      for client in direct + [client] { await client.shutdown() }
    }
  }

  static func log(_ line: String) {
    FileHandle.standardError.write(Data("scale-out: \(line)\n".utf8))
  }
}
