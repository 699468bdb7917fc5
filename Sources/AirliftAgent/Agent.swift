import AirliftCore
import AirliftMQTT
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The device agent: holds the device's MQTT session, follows its desired
/// deployment (retained MQTT message, and over HTTPS on every connect and
/// check-in period), installs it and reports every stage.
public final class Agent: Service {
  public static let version = "0.2.0"

  public let config: AgentConfig
  public let deviceID: DeviceID
  public let store: AgentStore
  let handlers: InstallHandlers
  let logger: Logger
  /// What the agent's own waits (retries, check-in periods) sleep on, and the jitter that spreads them.
  let clock: AgentClock
  let jitter: Jitter
  let restart = Mutex(false)
  /// Set on every (re)connect: once the outbox is empty, ask the controller
  /// which reports it has and send again over HTTPS what it lacks.
  let needsReconcile = Mutex(true)
  /// The running update worker's storage trouble, for the check-in.
  let storageProblem = Mutex<(@Sendable () -> String?)?>(nil)

  /// Whether the agent stopped because an update asked for a reboot (the
  /// process should exit so the device, or its supervisor, restarts it).
  public var restartRequested: Bool { restart.withLock { $0 } }

  public init(
    config: AgentConfig, handlers: InstallHandlers? = nil, logger: Logger? = nil,
    clock: AgentClock = .system, jitter: Jitter = .system
  ) throws {
    self.config = config
    self.clock = clock
    self.jitter = jitter
    do {
      deviceID = try DeviceID(config.deviceID)
    } catch {
      throw AgentError.config(path: "deviceID", reason: error.description)
    }
    var logger = logger ?? Logger(label: "airlift.agent")
    logger[metadataKey: "device"] = .string(config.deviceID)
    self.logger = logger
    self.handlers = handlers ?? .standard(config)
    for directory in [config.dataDirectory, config.installDirectory] {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    store = try AgentStore(path: "\(config.dataDirectory)/agent.sqlite")
  }

  /// Runs until cancelled or a graceful shutdown: the agent's services (Services/AgentServices.swift) in one
  /// ServiceGroup over one link to the controller, MQTT or HTTPS; started again after the certificate was renewed.
  public func run() async throws {
    let lock = try await InstanceLock.acquire(dataDirectory: config.dataDirectory)
    defer { withExtendedLifetime(lock) {} }
    CertificateRenewal.recover(config, logger: logger)
    while try await runServices() {
      logger.notice("starting again on the renewed certificate")
    }
  }

  /// One run of the services; true when it ended because the certificate was renewed.
  private func runServices() async throws -> Bool {
    let renewed = OnceFlag()
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: try Self.httpConfiguration(config))
    let link: any ControllerLink
    switch config.transport {
    case .mqtt: link = try MQTTLink(agent: self, http: http)
    case .https: link = HTTPSLink(agent: self, http: http)
    }
    let outbox = Outbox(
      store: store, logger: logger, maxRetryDelay: link.outboxMaxRetryDelay, clock: clock.underlying,
      jitter: jitter
    ) { message in try await link.deliver(message) }
    let events = EventHub()
    let (reboots, reboot) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    // An update ended: the new inventory goes to the controller at once.
    let worker = makeWorker(
      http: http, outbox: outbox, events: events, reboot: reboot,
      controllerContact: { [clock] in
        await link.established()
        // Over HTTPS the link is "up" at once; contact is a check-in that got through.
        while !link.isConnected && !Task.isCancelled { try? await clock.sleep(for: .seconds(1)) }
      },
      onChange: { await link.sendInventory() })
    var services: [any Service] = [
      EventSocketService(
        server: EventSocketServer(
          path: config.eventSocketPath, hub: events, logger: logger,
          handle: { request in
            await Self.handle(
              request, consent: worker.consent,
              send: { kind, data in
                try self.store.enqueueEvent(DeviceEvent(device: self.deviceID, kind: kind, data: data))
                outbox.wake()
              },
              status: {
                try self.store.status(device: self.config.deviceID, running: true, connected: link.isConnected)
              },
              start: {
                await self.startApps(
                  current: try? self.store.status(device: self.config.deviceID, running: true, connected: true).update)
              })
          }), logger: logger)
    ]
    if let hooks = config.hooksDirectory {
      services.append(
        HookService(runner: HookRunner(directory: hooks, timeout: config.hookTimeout, hub: events, logger: logger)))
    }
    services += [
      UpdateWorkerService(worker: worker), ControllerLinkService(link: link),
      ReceiverService(
        link: link, worker: worker,
        properties: PropertyApplier(file: config.propertiesPath, events: events, logger: logger) {
          await link.sendInventory()
        }), OutboxService(outbox: outbox, link: link),
      ReconcilerService(agent: self, outbox: outbox, http: http),
      CheckInService(agent: self, link: link, outbox: outbox), RebootWatchService(reboots: reboots),
      CertificateRenewalService(
        renewal: CertificateRenewal(config: config, logger: logger), http: http,
        busy: { [store, config] in
          guard let update = try? store.status(device: config.deviceID, running: true, connected: true).update else {
            return false
          }
          return !(DeviceState(rawValue: update.state)?.isTerminal ?? true)
        }, renewed: { renewed.set() }),
    ]
    let group = ServiceGroup(
      configuration: .init(
        services: services.map {
          .init(
            service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
            failureTerminationBehavior: .gracefullyShutdownGroup)
        }, logger: logger))
    var failure: (any Error)?
    do {
      try await group.run()
    } catch {
      failure = error
    }
    // In a task of its own: the caller may be cancelled, and the goodbye must still be sent.
    await Task {
      await link.close()
      try? await http.shutdown()
    }.value
    if let failure, !(failure is CancellationError) { throw failure }
    return renewed.isSet && !Task.isCancelled
  }

  /// The update worker and what it reports through; `onChange` runs when an update ended.
  func makeWorker(
    http: HTTPClient, outbox: Outbox, events: EventHub, reboot: AsyncStream<Void>.Continuation,
    controllerContact: @escaping @Sendable () async -> Void = {}, onChange: @escaping @Sendable () async -> Void
  ) -> UpdateWorker {
    let worker = UpdateWorker(
      deviceID: deviceID, store: store,
      downloader: ArtifactDownloader(
        client: http, directory: "\(config.dataDirectory)/downloads", maxBytesPerSecond: config.maxBytesPerSecond,
        reservedSpace: config.reservedDiskSpace, transferred: { [store] in try? store.addDownloaded(bytes: $0) }),
      handlers: handlers, config: config, outbox: outbox, events: events, logger: logger, clock: clock,
      jitter: jitter, controllerContact: controllerContact,
      beforeReboot: { [store, clock] in
        // The reports of the update (Rebooting, or a rollback) reach the controller before the device goes
        // quiet, when it can be reached; they stay stored for after the reboot either way.
        outbox.wake()
        let deadline = clock.now + .seconds(10)
        while ((try? store.outboxCount()) ?? 0) > 0, clock.now < deadline {
          try? await clock.sleep(for: .milliseconds(100))
        }
      },
      onChange: { [weak self] in
        // An update ended: make sure the controller has its whole history, then report the new inventory.
        self?.needsReconcile.withLock { $0 = true }
        outbox.wake()
        await onChange()
      },
      onReboot: { [weak self] in
        self?.restart.withLock { $0 = true }
        reboot.yield()
      })
    storageProblem.withLock { $0 = { worker.storageProblem.withLock { $0 } } }
    return worker
  }

  /// What keeps the agent from working as it should, for the check-in: a
  /// state it could not store, a data disk with less free than the reserve.
  func problems() -> [String] {
    var list: [String] = []
    if let problem = storageProblem.withLock({ $0 })?() { list.append(problem) }
    let attributes = try? FileManager.default.attributesOfFileSystem(forPath: config.dataDirectory)
    if let free = (attributes?[.systemFreeSize] as? NSNumber)?.int64Value, free < config.reservedDiskSpace {
      list.append(
        "the data disk (\(config.dataDirectory)) has \(free) bytes free, less than reservedDiskSpace (\(config.reservedDiskSpace))"
      )
    }
    return list
  }

  /// Connects once to the broker and the controller with this device's
  /// certificate and says what failed: for `airlift-agent check`.
  public func checkConnectivity() async throws {
    let mqtt = try MQTTClient(options: mqttOptions(), logger: logger)
    defer { Task { await mqtt.close() } }
    try await mqtt.connect()
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: try Self.httpConfiguration(config))
    defer { _ = http.shutdown() }
    _ = try await fetchDesired(http)
  }

  func mqttOptions() -> MQTTClientOptions {
    MQTTClientOptions(
      brokerURL: config.brokerURL, clientID: config.deviceID,
      tls: .init(caFile: config.caFile, certificateFile: config.certificate, keyFile: config.key),
      will: .init(topic: Topics.device(deviceID, .presence), payload: Wire.encode(Presence(.offline))),
      cleanStart: false, minRetryInterval: MQTTClientOptions.spreadRetryStart())
  }

  /// The period plus a random part of the jitter, so a fleet spreads its check-ins.
  func nextCheckInDelay() -> Duration {
    let jitter = config.jitter.seconds > 0 ? self.jitter() * Double(config.jitter.seconds) : 0
    return .seconds(Double(max(config.period.seconds, 1)) + jitter)
  }

  /// Sends again, over HTTPS, the reports the controller does not have (a
  /// broker that crashed after acknowledging them, a controller that was
  /// not subscribed yet). The controller stores each report number once.
  /// Returns false when the controller could not be asked (try again later).
  func reconcile(_ http: HTTPClient) async -> Bool {
    needsReconcile.withLock { $0 = false }
    let url = "\(config.controllerURL)/api/v1/device/status"
    do {
      var resent = 0
      while true {
        let sent = try store.unconfirmedReports()
        guard let first = sent.first?.seq, let last = sent.last?.seq else { break }
        let stored = try await exchange(
          http, HTTPClientRequest(url: "\(url)?after=\(first - 1)&through=\(last)"), as: StoredSeqs.self)
        let missing = sent.filter { !Set(stored.seqs).contains($0.seq ?? -1) }
        if !missing.isEmpty {
          var request = HTTPClientRequest(url: url)
          request.method = .POST
          request.headers.add(name: "Content-Type", value: "application/json")
          request.body = .bytes(Wire.encode(StatusBatch(reports: missing)))
          _ = try await exchange(http, request, as: StoredSeqs.self)
          resent += missing.count
        }
        try store.confirmReports(through: last)
        if sent.count < 500 { break }
      }
      if resent > 0 { logger.notice("sent \(resent) status report(s) again that the controller did not have") }
      if config.transport == .mqtt {
        // The inventory too: a check-in published while the controller was away may never have reached it.
        var request = HTTPClientRequest(url: "\(config.controllerURL)/api/v1/device/checkin")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(Wire.encode(await currentCheckIn()))
        _ = try await exchange(http, request, as: PollAnswer.self)
      }
      return true
    } catch {
      logger.warning("could not compare reports with the controller: \(error); trying again later")
      return false
    }
  }

  func exchange<T: Decodable>(_ http: HTTPClient, _ request: HTTPClientRequest, as type: T.Type) async throws
    -> T
  {
    let response = try await http.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 1 << 20)
    guard response.status == .ok else {
      throw AgentError.controller(
        reason: "\(request.method) \(request.url): HTTP \(response.status.code) \(String(buffer: body).prefix(200))")
    }
    return try Wire.decode(T.self, from: Array(buffer: body), topic: request.url)
  }

  /// The device document: attributes, installed packages and apps, channels.
  func currentCheckIn(nextCheckIn: Date? = nil) async -> CheckIn {
    let apps = await handlers.appStates(installDirectory: config.installDirectory)
    return CheckIn(
      device: deviceID, attributes: config.attributes,
      installed: ((try? store.installed()) ?? [:]).merging(
        handlers.inventory(installDirectory: config.installDirectory)
      ) { package, _ in package },
      agentVersion: Self.version, follows: config.channels.isEmpty ? nil : config.channels,
      apps: apps.isEmpty ? nil : apps, transport: config.transport == .https ? .https : nil,
      nextCheckIn: nextCheckIn, problems: problems().nilIfEmpty, compatible: config.compatible,
      configVersion: PropertyApplier.appliedVersion(file: config.propertiesPath))
  }

  /// The desired deployment over HTTPS (nil: nothing to do).
  func fetchDesired(_ http: HTTPClient) async throws -> DeploymentNotice? {
    let url = "\(config.controllerURL)/api/v1/device/deployment"
    let response: HTTPClientResponse
    let body: ByteBuffer
    do {
      response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
      body = try await response.body.collect(upTo: 1 << 20)
    } catch {
      throw AgentError.controller(reason: "GET \(url): \(error)")
    }
    switch response.status.code {
    case 204: return nil
    case 200:
      do {
        return try Wire.decode(DeploymentNotice.self, from: Array(buffer: body), topic: url)
      } catch {
        throw AgentError.controller(reason: "\(error)")
      }
    default:
      throw AgentError.controller(
        reason: "GET \(url): HTTP \(response.status.code) \(String(buffer: body).prefix(200))")
    }
  }

  static func httpConfiguration(_ config: AgentConfig) throws -> HTTPClient.Configuration {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file(config.caFile)
    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(config.certificate).map { .certificate($0) }
    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: config.key, format: .pem))
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    configuration.timeout.connect = .milliseconds(Int64(config.connectTimeout * 1000))
    configuration.timeout.read = .milliseconds(Int64(config.stallTimeout * 1000))
    // Below the controller's idle timeout (60 s by default): the agent lets an unused connection go first.
    configuration.connectionPool = .init(idleTimeout: .seconds(20))
    return configuration
  }
}

/// Runs `body`, giving up after `limit` of real time.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
  try await AgentClock.system.withTimeout(limit, body)
}
