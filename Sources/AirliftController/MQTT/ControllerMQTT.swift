import AirliftCore
import AirliftMQTT
import Logging
import ServiceLifecycle
import Synchronization

/// Whether the controller is ready to take device messages, for `/readyz`.
public final class ControllerHealth: Sendable {
  private let subscribed = Mutex(false)
  private let brokerConnected: @Sendable () -> Bool
  private let publishCounts: @Sendable () -> (attempted: Int64, failed: Int64)

  /// `brokerConnected` says whether the MQTT session is up right now; `publishCounts`, how its publishes went.
  public init(
    brokerConnected: @escaping @Sendable () -> Bool = { true },
    publishCounts: @escaping @Sendable () -> (attempted: Int64, failed: Int64) = { (0, 0) }
  ) {
    self.brokerConnected = brokerConnected
    self.publishCounts = publishCounts
  }

  /// MQTT publishes attempted since the start, and how many failed.
  public var mqttPublishes: (attempted: Int64, failed: Int64) { publishCounts() }

  /// The MQTT session is up now (it reconnects by itself when it is not).
  public var isBrokerConnected: Bool { brokerConnected() }

  public var mqttSubscribed: Bool {
    get { subscribed.withLock { $0 } }
    set { subscribed.withLock { $0 = newValue } }
  }
}

/// The controller's MQTT side: takes in every device's check-ins, status
/// events and presence (through a shared subscription, so several
/// controllers can split the load) and writes them to the store.
final class ControllerMQTT: Service {
  let client: MQTTClient
  private let store: ControllerStore
  private let deployments: DeploymentService
  private let revocations: RevocationService
  private let logger: Logger
  private let shareGroup: String
  private let health: ControllerHealth
  private let metrics: ControllerMetrics
  /// Status events received and not yet written: written in batches, one
  /// transaction each, so a burst of reports costs few disk syncs.
  private let pendingStatuses = Mutex<[(DeviceID, StatusReport)]>([])
  /// What one device may send per second (nil: no limit).
  private let rateLimiter: DeviceRateLimiter?
  /// How many telemetry events each device keeps.
  private let eventRetention: EventRetention

  init(
    client: MQTTClient, shareGroup: String, store: ControllerStore, deployments: DeploymentService,
    revocations: RevocationService, health: ControllerHealth, metrics: ControllerMetrics,
    rateLimiter: DeviceRateLimiter? = nil, eventRetention: EventRetention = EventRetention(), logger: Logger
  ) {
    self.eventRetention = eventRetention
    self.rateLimiter = rateLimiter
    self.metrics = metrics
    self.revocations = revocations
    self.health = health
    self.client = client
    self.shareGroup = shareGroup
    self.store = store
    self.deployments = deployments
    self.logger = logger
  }

  func run() async throws {
    defer { Task { await client.close() } }
    try await endingQuietlyOnShutdown {
      try await self.receive()
    }
  }

  private func receive() async throws {
    try await cancelWhenGracefulShutdown {
      // Subscribe first: a resumed session delivers what was queued while
      // the controller was away right after it connects.
      var streams: [AsyncStream<MQTTMessage>] = []
      for channel in [Topics.Channel.checkin, .status, .presence, .commandResult, .event] {
        streams.append(
          try await self.client.subscribe(Topics.sharedAllDevices(channel, group: self.shareGroup), qos: 1))
      }
      try await self.connectWithRetry()
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await self.flushStatusesPeriodically() }
        for messages in streams {
          group.addTask {
            for await message in messages { await self.handle(message) }
          }
        }
        self.health.mqttSubscribed = true
        try await group.waitForAll()
      }
    }
  }

  private func flushStatusesPeriodically() async throws {
    while true {
      do {
        try await Task.sleep(for: .milliseconds(50))
      } catch {
        await flushStatuses()
        throw error
      }
      await flushStatuses()
    }
  }

  /// Writes the received status events, at most `maxBatch` per transaction.
  func flushStatuses() async {
    while true {
      let batch = pendingStatuses.withLock { pending in
        let count = min(pending.count, Self.maxBatch)
        defer { pending.removeFirst(count) }
        return Array(pending.prefix(count))
      }
      guard !batch.isEmpty else { return }
      do {
        let started = ContinuousClock.now
        let unknown = try await store.recordStatuses(batch)
        metrics.statusBatchStored(batch.map(\.1.state), took: ContinuousClock.now - started)
        for (device, report) in unknown {
          logger.warning(
            "status for unknown deployment '\(report.deployment)' from \(device); only the newest \(ControllerStore.strayEventsKept) such events of a device are kept",
            metadata: ["device": .string(device.rawValue), "deployment": .string(report.deployment)])
        }
      } catch {
        // Put them back; the next flush tries again.
        logger.error("could not store \(batch.count) status event(s): \(error); retrying")
        pendingStatuses.withLock { $0.insert(contentsOf: batch, at: 0) }
        return
      }
    }
  }

  /// Status events per transaction at most: big enough that a burst costs
  /// few commits, small enough that no write holds the database for long.
  static let maxBatch = 5000

  private func connectWithRetry() async throws {
    try await retrying(
      RetryDelays(Backoff(base: 0.5, maximum: 5)),
      failed: { error, wait in logger.error("MQTT: \(error); retrying in \(Backoff.describe(wait.seconds))") },
      { try await client.connect() })
  }

  /// Routes one device message to the store; anything malformed is logged
  /// with its reason and dropped, never fatal.
  func handle(_ message: MQTTMessage) async {
    do {
      let (device, channel) = try Topics.parseDeviceTopic(message.topic)
      if revocations.isRevoked(device), channel != .deployment, channel != .command {
        // Its session may outlive the revocation by a few seconds; what it says there counts for nothing.
        logger.warning(
          "ignored a message from revoked device \(device)",
          metadata: ["device": .string(device.rawValue), "topic": .string(message.topic)])
        return
      }
      if let rateLimiter, channel != .presence, !rateLimiter.admit(device.rawValue, bytes: message.payload.count) {
        metrics.deviceMessageRateLimited()
        logger.debug(
          "dropped a message over the device's rate limit",
          metadata: ["device": .string(device.rawValue), "topic": .string(message.topic)])
        return
      }
      switch channel {
      case .checkin:
        let checkIn = try Wire.decode(CheckIn.self, from: message.payload, topic: message.topic)
        try checkIn.validate()
        guard checkIn.device == device else {
          logger.warning(
            "rejected check-in: payload names '\(checkIn.device)' but arrived on '\(message.topic)'",
            metadata: ["device": .string(device.rawValue)])
          return
        }
        let firstTime = try await store.recordCheckIn(checkIn)
        if firstTime { logger.info("new device checked in", metadata: ["device": .string(device.rawValue)]) }
        await deployments.deviceMayJoin(device)
        await deployments.configMayHaveDrifted(device)
      case .status:
        let report = try Wire.decode(StatusReport.self, from: message.payload, topic: message.topic)
        try report.validate()
        pendingStatuses.withLock { $0.append((device, report)) }
        metrics.statusReceived(report.state)
      case .presence:
        guard !message.payload.isEmpty else { return }
        let presence = try Wire.decode(Presence.self, from: message.payload, topic: message.topic)
        try await store.recordPresence(device, online: presence.status == .online)
        logger.debug("device \(presence.status.rawValue)", metadata: ["device": .string(device.rawValue)])
      case .commandResult:
        let result = try Wire.decode(CommandResult.self, from: message.payload, topic: message.topic)
        try await store.recordCommandResult(result, from: device)
      case .event:
        let event = try Wire.decode(DeviceEvent.self, from: message.payload, topic: message.topic)
        do {
          try event.validate()
          guard event.device == device else {
            throw AirliftCoreError.malformedPayload(
              topic: message.topic, reason: "the event names '\(event.device)', not the topic's device")
          }
          try await store.recordDeviceEvents([event], from: device, retention: eventRetention)
          metrics.deviceEventsStored(1)
        } catch {
          metrics.deviceEventsRefused(1)
          throw error
        }
      case .deployment, .command, .config:
        return
      }
    } catch {
      metrics.deviceMessageDropped()
      logger.warning("dropped device message: \(error)", metadata: ["topic": .string(message.topic)])
    }
  }
}
