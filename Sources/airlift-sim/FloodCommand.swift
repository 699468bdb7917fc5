import AirliftCore
import AirliftMQTT
import ArgumentParser
import Foundation
import Logging
import Synchronization

extension SimCommand {
  /// Load for the controller's status intake: devices that report progress
  /// as fast as the broker acknowledges it.
  struct Flood: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Devices that send status reports as fast as they can, to measure the controller's intake.",
      discussion: """
        Each device connects with its own certificate, checks in, waits for its deployment notice, then \
        publishes Downloading reports (QoS 1, a new sequence number each) for that deployment with WINDOW \
        reports in flight, until the time is up. Prints how many the broker acknowledged.
        """)
    @Option(help: "How many devices.") var devices: Int = 100
    @Option(help: "Device id prefix; ids are PREFIX-00001 …") var prefix = "flood"
    @Option(help: "mqtts://HOST:PORT") var broker: String
    @Option(help: "PKI folder with ca.crt and devices/.") var certs: String
    @Option(help: "Seconds to send for, from each device's notice.") var seconds: Double = 60
    @Option(help: "Reports in flight per device.") var window: Int = 8

    func run() async throws {
      let logger = SimCommand.quietLogging()
      let ids = try SimCommand.deviceIDs(devices, prefix: prefix)
      _ = try await DeviceCertificates.ensure(ids, certs: certs)
      let totals = FloodTotals()
      let window = max(1, self.window)
      let seconds = self.seconds
      try await withThrowingTaskGroup(of: Void.self) { group in
        for id in ids {
          // Each device connects on its own: one after another, Paho's connect and first publishes take seconds.
          group.addTask {
            let client = try MQTTClient(
              options: MQTTClientOptions(
                brokerURL: broker, clientID: id.rawValue,
                tls: .init(
                  caFile: "\(certs)/ca.crt", certificateFile: "\(certs)/devices/\(id).crt",
                  keyFile: "\(certs)/devices/\(id).key"),
                connectTimeout: 30, maxBufferedMessages: 10_000),
              logger: logger)
            let notices = try await client.subscribe(Topics.device(id, .deployment), qos: 1)
            try await client.connect()
            try await client.publish(
              Topics.device(id, .presence), payload: Wire.encode(Presence(.online)), qos: 1, retain: true)
            let checkIn = CheckIn(
              device: id, attributes: ["model": "flood"], installed: [:], agentVersion: "sim-0.1.0")
            try await client.publish(Topics.device(id, .checkin), payload: Wire.encode(checkIn), qos: 1)
            defer { Task { await client.close() } }
            var deployment: String?
            for await message in notices where !message.payload.isEmpty {
              if let notice = try? Wire.decode(DeploymentNotice.self, from: message.payload, topic: message.topic) {
                deployment = notice.deployment
                break
              }
            }
            guard let deployment else { return }
            let start = ContinuousClock.now
            totals.started(at: start)
            let deadline = start + .seconds(seconds)
            let seq = FloodTotals()
            try await withThrowingTaskGroup(of: Void.self) { lanes in
              for _ in 0..<window {
                lanes.addTask {
                  while ContinuousClock.now < deadline {
                    let n = Int64(seq.next())
                    let report = StatusReport(
                      deployment: deployment, state: .downloading, bytes: n * 1024, total: 1 << 40, percent: 0,
                      attempt: 1, seq: n)
                    try await client.publish(Topics.device(id, .status), payload: Wire.encode(report), qos: 1)
                    totals.sentOne()
                  }
                }
              }
              try await lanes.waitForAll()
            }
          }
        }
        SimCommand.say("flood: \(ids.count) devices connecting; each waits for its deployment notice")
        try await group.waitForAll()
      }
      let elapsed = totals.firstStart.map { SimCommand.seconds(since: $0) } ?? 0
      let total = totals.sent
      SimCommand.say(
        "flood: the broker acknowledged \(total) status reports in \(String(format: "%.1f", elapsed)) s "
          + "(\(elapsed > 0 ? Int(Double(total) / elapsed) : 0)/s)")
    }
  }
}

/// Counters shared by the flood's tasks.
final class FloodTotals: Sendable {
  private let count = Atomic<Int>(0)
  private let start = Mutex<ContinuousClock.Instant?>(nil)

  var sent: Int { count.load(ordering: .relaxed) }
  var firstStart: ContinuousClock.Instant? { start.withLock { $0 } }

  func sentOne() { count.add(1, ordering: .relaxed) }
  /// The next number of a sequence (1, 2, …).
  func next() -> Int { count.add(1, ordering: .relaxed).newValue }
  func started(at instant: ContinuousClock.Instant) { start.withLock { $0 = $0 ?? instant } }
}
