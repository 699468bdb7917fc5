import AirliftCore
import ArgumentParser
import Foundation
import Logging

@main
struct SimCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "airlift-sim", abstract: "Simulated devices for load tests and benchmarks.",
    subcommands: [Run.self, Certs.self])

  struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Issue the simulated devices' certificates ahead of a run (in-process, with CERTS/ca.key).")
    @Option(help: "How many devices.") var devices: Int = 100
    @Option(help: "Device id prefix; ids are PREFIX-00001 …") var prefix = "sim"
    @Option(help: "PKI folder with ca.crt, ca.key and devices/.") var certs: String

    func run() async throws {
      let ids = try (1...devices).map { try DeviceID(String(format: "%@-%05d", prefix, $0)) }
      let started = ContinuousClock.now
      let issued = try await DeviceCertificates.ensure(ids, certs: certs)
      let seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
      print(
        "issued \(issued) device certificates in \(String(format: "%.1f", seconds)) s "
          + "(\(devices - issued) already in \(certs)/devices)")
    }
  }

  struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run N simulated devices (real MQTT clients, one certificate each) until SIGINT/SIGTERM.",
      discussion: """
        Certificates come from CERTS/devices/ID.crt; missing ones are issued in-process with CERTS/ca.key \
        (EC P-256, CN = id) and kept for later runs.
        """)
    @Option(help: "How many devices.") var devices: Int = 100
    @Option(help: "Device id prefix; ids are PREFIX-00001 …") var prefix = "sim"
    @Option(help: "mqtts://HOST:PORT") var broker: String
    @Option(help: "PKI folder with ca.crt and devices/.") var certs: String
    @Option(help: "Attributes KEY=VALUE,KEY=VALUE reported in check-ins.") var attrs: String = "model=sim"
    @Option(help: "How long each install takes: seconds (1.5) or a period (2s).") var installTime: String = "1s"
    @Option(help: "full (every byte over HTTPS, hashed), head (a 1-byte range request), or none.")
    var download: String = "full"
    @Option(help: "Fraction of installs that fail (0 to 1).") var failRate: Double = 0
    @Option(help: "Devices connecting at the same time.") var concurrency: Int = 50
    @Option(help: "Stop after this many seconds.") var duration: Double = 3600

    func run() async throws {
      LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .error
        return handler
      }
      let logger = Logger(label: "airlift.sim")
      var attributes: [String: String] = [:]
      for pair in attrs.split(separator: ",") {
        let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("--attrs takes KEY=VALUE,KEY=VALUE, got '\(pair)'") }
        attributes[parts[0]] = parts[1]
      }
      let ids = try (1...devices).map { try DeviceID(String(format: "%@-%05d", prefix, $0)) }
      let issuing = ContinuousClock.now
      let issued = try await DeviceCertificates.ensure(ids, certs: certs)
      if issued > 0 {
        let seconds = Double((ContinuousClock.now - issuing) / .milliseconds(1)) / 1000
        print("issued \(issued) device certificates in \(String(format: "%.1f", seconds)) s")
      }
      guard let mode = DownloadMode(rawValue: download) else {
        throw ValidationError("--download: full, head or none")
      }
      let install: Duration
      if let seconds = Double(installTime) {
        install = .milliseconds(Int(seconds * 1000))
      } else {
        do { install = .seconds(try Period(installTime).seconds) } catch {
          throw ValidationError("--install-time: \(error)")
        }
      }
      let fleet = try ids.map { id in
        try SimulatedDevice(
          id: id, broker: broker, certs: certs, attributes: attributes, installTime: install, failRate: failRate,
          download: mode, logger: logger)
      }
      let started = ContinuousClock.now
      try await withThrowingTaskGroup(of: Void.self) { group in
        // Connect a window of devices at a time; each then runs on its own.
        let gate = AsyncStream.makeStream(of: Void.self)
        for _ in 0..<max(1, concurrency) { gate.continuation.yield() }
        var permits = gate.stream.makeAsyncIterator()
        group.addTask {
          while true {
            try await Task.sleep(for: .seconds(2))
            print("[\(Int((ContinuousClock.now - started) / .seconds(1))) s] \(await Self.summary(fleet))")
          }
        }
        for device in fleet {
          _ = await permits.next()
          group.addTask {
            do {
              let connected = Task { try await device.run() }
              // Give the permit back once this device is subscribed and connected (or failed to).
              try await Task.sleep(for: .milliseconds(200))
              gate.continuation.yield()
              try await connected.value
            } catch {
              gate.continuation.yield()
              print("\(device.id): \(error)")
            }
          }
        }
        // Devices run until the time is up (or the process is stopped).
        try await Task.sleep(for: .seconds(duration) - (ContinuousClock.now - started))
        group.cancelAll()
      }
      print("\nafter \(Int((ContinuousClock.now - started) / .seconds(1))) s:")
      print("| devices | connected | " + DeviceState.allCases.map(\.rawValue).joined(separator: " | ") + " |")
      print("|---|---|" + DeviceState.allCases.map { _ in "---|" }.joined())
      var counts: [DeviceState: Int] = [:]
      var connected = 0
      for device in fleet {
        if let state = await device.state { counts[state, default: 0] += 1 }
        if await device.isConnected { connected += 1 }
      }
      print(
        "| \(fleet.count) | \(connected) | "
          + DeviceState.allCases.map { "\(counts[$0] ?? 0)" }.joined(separator: " | ")
          + " |")
      for device in fleet { await device.close() }
    }

    /// `connected N/M, Downloading 3, Successful 97`.
    static func summary(_ fleet: [SimulatedDevice]) async -> String {
      var counts: [String: Int] = [:]
      var connected = 0
      for device in fleet {
        counts[(await device.state)?.rawValue ?? "idle", default: 0] += 1
        if await device.isConnected { connected += 1 }
      }
      return "connected \(connected)/\(fleet.count), "
        + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }
  }
}
