import AirliftCore
import ArgumentParser
import Foundation
import Logging

extension SimCommand {
  struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run N simulated devices (real MQTT clients, one certificate each) until SIGINT/SIGTERM.",
      discussion: """
        Certificates come from CERTS/devices/ID.crt; missing ones are issued in-process with CERTS/ca.key \
        (EC P-256, CN = id) and kept for later runs. With --stats FILE a JSON snapshot (connections, \
        notices received and when, states) is written there each second for benchmarks to read.
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
    @Option(help: "Downloads at the same time at most (each is a TLS connection).") var maxDownloads: Int = 1000
    @Option(help: "Stop after this many seconds.") var duration: Double = 3600
    @Option(help: "Write a JSON snapshot of the fleet here every second.") var stats: String?

    func validate() throws {
      guard DownloadMode(rawValue: download) != nil else { throw ValidationError("--download: full, head or none") }
      guard (0...1).contains(failRate) else { throw ValidationError("--fail-rate is a fraction from 0 to 1") }
      guard devices > 0 else { throw ValidationError("--devices must be at least 1") }
    }

    func run() async throws {
      let logger = SimCommand.quietLogging()
      var attributes: [String: String] = [:]
      for pair in attrs.split(separator: ",") {
        let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("--attrs takes KEY=VALUE,KEY=VALUE, got '\(pair)'") }
        attributes[parts[0]] = parts[1]
      }
      let ids = try SimCommand.deviceIDs(devices, prefix: prefix)
      let issuing = ContinuousClock.now
      let issued = try await DeviceCertificates.ensure(ids, certs: certs)
      if issued > 0 {
        SimCommand.say(
          "issued \(issued) device certificates in \(String(format: "%.1f", SimCommand.seconds(since: issuing))) s")
      }
      let install: Duration
      if let seconds = Double(installTime) {
        install = .milliseconds(Int(seconds * 1000))
      } else {
        do { install = .seconds(try Period(installTime).seconds) } catch {
          throw ValidationError("--install-time: \(error)")
        }
      }
      let mode = DownloadMode(rawValue: download) ?? .full
      let slots = DownloadSlots(maxDownloads)
      let fleet = try ids.map { id in
        try SimulatedDevice(
          id: id, broker: broker, certs: certs, attributes: attributes, installTime: install, failRate: failRate,
          download: mode, slots: slots, logger: logger)
      }
      let started = ContinuousClock.now
      try await withThrowingTaskGroup(of: Void.self) { group in
        // Connect a window of devices at a time; each then runs on its own.
        let gate = AsyncStream.makeStream(of: Void.self)
        for _ in 0..<max(1, concurrency) { gate.continuation.yield() }
        var permits = gate.stream.makeAsyncIterator()
        group.addTask { try await Self.report(fleet, started: started, statsFile: stats) }
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
              SimCommand.say("\(device.id): \(error)")
            }
          }
        }
        // Devices run until the time is up (or the process is stopped).
        try await Task.sleep(for: .seconds(duration) - (ContinuousClock.now - started))
        group.cancelAll()
      }
      let final = await SimStats.collect(fleet)
      SimCommand.say("\nafter \(Int(SimCommand.seconds(since: started))) s:")
      SimCommand.say("| devices | connected | " + DeviceState.allCases.map(\.rawValue).joined(separator: " | ") + " |")
      SimCommand.say("|---|---|" + DeviceState.allCases.map { _ in "---|" }.joined())
      SimCommand.say(
        "| \(final.devices) | \(final.connected) | "
          + DeviceState.allCases.map { "\(final.states[$0.rawValue] ?? 0)" }.joined(separator: " | ") + " |")
      for device in fleet { await device.close() }
    }

    /// The stats file each second, a summary line every two.
    static func report(_ fleet: [SimulatedDevice], started: ContinuousClock.Instant, statsFile: String?) async throws {
      var tick = 0
      while true {
        try await Task.sleep(for: .seconds(1))
        tick += 1
        let stats = await SimStats.collect(fleet)
        if let statsFile {
          do { try stats.write(to: statsFile) } catch { SimCommand.say("could not write \(statsFile): \(error)") }
        }
        if tick % 2 == 0 { SimCommand.say("[\(Int(SimCommand.seconds(since: started))) s] \(stats.summary)") }
      }
    }
  }
}
