import AirliftClient
import AirliftCore
import Foundation
import Testing

@Suite("airlift-sim: simulated devices through the real broker and controller")
struct SimulatorTests {
  @Test("simulated devices get their certificates in-process, download over HTTPS, and report like agents")
  func simulatedFleet() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let binary = try Fleet.builtBinary("airlift-sim")
      let prefix = "simt\(UUID().uuidString.prefix(4).lowercased())"
      let (status, output) = try await Fleet.execute(
        binary, ["certs", "--devices", "4", "--prefix", prefix, "--certs", fleet.certs])
      #expect(status == 0 && output.contains("issued 4 device certificates"), "\(output)")

      let simulator = try Fleet.startBackground(
        binary,
        [
          "run", "--devices", "4", "--prefix", prefix, "--broker", fleet.brokerURL, "--certs", fleet.certs,
          "--install-time", "0.2", "--attrs", "model=sim-200", "--duration", "120",
        ], log: "\(fleet.root)/sim.log")
      defer { if simulator.isRunning { kill(simulator.processIdentifier, SIGKILL) } }
      try await eventually("4 simulated devices to check in", within: 60) {
        try await client.devices().filter { $0.online && $0.attributes["model"] == "sim-200" }.count == 4
      }

      _ = try await client.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root, payloadBytes: 200_000))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(allDevices: true)))
      try await eventually("every simulated device to succeed") {
        let devices = try await client.deployment(deployment.id).devices
        return devices.count == 4 && devices.allSatisfy { $0.state == .successful }
      }
      // They fetched the artifact over HTTPS: a tampered blob makes the next deployment fail at download.
      let second = try await client.uploadRelease(
        package: "app", version: "2.0.0", file: try ReleaseBundle.make(in: fleet.root, name: "v2.tar.gz"))
      let path = "\(fleet.root)/controller/blobs/\(second.assets[0].sha256)"
      var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
      bytes[bytes.count / 2] ^= 0xFF
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let failing = try await client.createDeployment(
        .init(package: "app", version: "2.0.0", target: .init(allDevices: true), supersede: true))
      try await eventually("the tampered download to fail everywhere") {
        let devices = try await client.deployment(failing.id).devices
        return devices.count == 4 && devices.allSatisfy { $0.state == .failed }
      }
      #expect(try await client.deployment(failing.id).devices.allSatisfy { ($0.error ?? "").contains("download:") })
    }
  }
}
