import AirliftCore
import AirliftMQTT
import ArgumentParser
import Foundation
import Synchronization

extension SimCommand {
  /// The fan-out benchmark's peer: one raw MQTT client that publishes the
  /// same retained notices the controller published, to the same topics,
  /// as fast as the broker takes them.
  struct Republish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Read every device's retained deployment notice, then publish them all again at once (QoS 1).",
      discussion: """
        Connects with the controller's broker identity (CERTS/controller-client.crt), collects the retained \
        messages of airlift/v1/devices/+/deployment until EXPECTED have arrived, then publishes them all \
        again with at most IN-FLIGHT unacknowledged. Prints when publishing started (seconds since 1970) \
        and how long until the broker acknowledged the last one.
        """)
    @Option(help: "mqtts://HOST:PORT") var broker: String
    @Option(
      help:
        "PKI folder with ca.crt and the controller identities controllers/bench-read and controllers/bench-write (Certs/new-controller)."
    )
    var certs: String
    @Option(help: "How many retained notices to wait for.") var expected: Int
    @Option(help: "Publishes not yet acknowledged at most.") var inFlight: Int = 500

    func run() async throws {
      let logger = SimCommand.quietLogging()
      func client(_ role: String) throws -> MQTTClient {
        try MQTTClient(
          options: MQTTClientOptions(
            brokerURL: broker, clientID: "airlift-bench-\(role)-\(ProcessInfo.processInfo.processIdentifier)",
            // The broker takes the client id from the certificate: each client has an identity of its own.
            tls: .init(
              caFile: "\(certs)/ca.crt", certificateFile: "\(certs)/controllers/bench-\(role).crt",
              keyFile: "\(certs)/controllers/bench-\(role).key"),
            connectTimeout: 30),
          logger: logger)
      }
      // One client reads the retained notices; another, subscribed to nothing, publishes them.
      let reader = try client("read")
      let messages = try await reader.subscribe(Topics.allDevices(.deployment), qos: 1)
      try await reader.connect()
      var notices: [String: [UInt8]] = [:]
      let collecting = ContinuousClock.now
      for await message in messages where !message.payload.isEmpty {
        notices[message.topic] = message.payload
        if notices.count >= expected { break }
        if ContinuousClock.now - collecting > .seconds(120) {
          throw ValidationError("only \(notices.count) of \(expected) retained notices arrived in 120 s")
        }
      }
      await reader.close()
      let publisher = try client("write")
      try await publisher.connect()
      let startedAt = Date().timeIntervalSince1970
      let started = ContinuousClock.now
      let notices2 = notices
      try await withThrowingTaskGroup(of: Void.self) { group in
        var running = 0
        for (topic, payload) in notices2 {
          if running >= max(1, inFlight) {
            try await group.next()
            running -= 1
          }
          group.addTask { try await publisher.publish(topic, payload: payload, qos: 1, retain: true) }
          running += 1
        }
        try await group.waitForAll()
      }
      let elapsed = SimCommand.seconds(since: started)
      SimCommand.say(
        "republish: \(notices.count) notices, started at \(String(format: "%.3f", startedAt)), "
          + "all acknowledged after \(String(format: "%.3f", elapsed)) s")
      await publisher.close()
    }
  }
}
