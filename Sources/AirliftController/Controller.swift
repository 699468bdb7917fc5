import AirliftCrypto
import AirliftMQTT
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The controller: store, MQTT session and HTTPS server, run together as
/// services that start and stop as one (SIGTERM/SIGINT stop it gracefully).
public struct Controller: Sendable {
  public let config: ControllerConfig
  public let store: ControllerStore
  public let metrics = ControllerMetrics()
  private let logger: Logger
  private let running = RunningGroup()

  /// The service group while `run` runs, for `shutdown`.
  private final class RunningGroup: Sendable {
    let group = Mutex<ServiceGroup?>(nil)
  }

  public init(config: ControllerConfig, logger: Logger = Logger(label: "airlift.controller")) throws {
    self.config = config
    self.logger = logger
    try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
    store = try ControllerStore(location: config.storeLocation)
  }

  /// Runs until cancelled or until a signal in `signals` arrives.
  public func run(signals: [UnixSignal] = []) async throws {
    let blobs = try BlobStore(
      directory: config.dataDirectory, chunking: config.deltas.parameters, packLevel: Int32(config.deltas.packLevel))
    let mqtt = try MQTTClient(
      options: MQTTClientOptions(
        brokerURL: config.brokerURL, clientID: config.mqttClientID,
        tls: .init(caFile: config.caFile, certificateFile: config.mqttCertificateFile, keyFile: config.mqttKeyFile),
        cleanStart: false, sessionExpiry: config.mqttSessionExpiry),
      logger: logger)
    let health = ControllerHealth(brokerConnected: { mqtt.isConnected }, publishCounts: { mqtt.publishCounts })
    let deployments = DeploymentService(
      store: store, mqtt: mqtt, baseURL: config.baseURL, redelivery: config.redelivery, logger: logger)
    let revocations = try await RevocationService(store: store, mqtt: mqtt, config: config, logger: logger)
    let session = ControllerMQTT(
      client: mqtt, shareGroup: try config.resolvedShareGroup(), store: store, deployments: deployments,
      revocations: revocations, health: health, metrics: metrics,
      rateLimiter: config.deviceRate.messagesPerSecond > 0
        ? DeviceRateLimiter(
          .init(
            messagesPerSecond: config.deviceRate.messagesPerSecond, bytesPerSecond: config.deviceRate.bytesPerSecond,
            burstSeconds: config.deviceRate.burstSeconds)) : nil,
      eventRetention: config.eventRetention, logger: logger)
    let router = try ControllerRoutes(
      store: store, blobs: blobs, deployments: deployments, revocations: revocations, health: health,
      metrics: metrics, operators: Set(config.operators), readers: Set(config.readers),
      maxArtifactSize: config.maxArtifactSize, caFile: config.caFile, caKeyFile: config.caKeyFile,
      links: AssetLinks(
        signer: AssetLinkSigner(secret: try config.resolvedLinkSecret()),
        origin: config.assetLinks.origin ?? config.baseURL, ttl: config.assetLinks.ttl,
        updates: config.assetLinks.updates),
      trustedProxies: Set(config.trustedProxies), eventRetention: config.eventRetention,
      deviceCertificateLifetime: Int(config.deviceCertificateLifetime)
    ).build()
    let limiter = ConnectionLimiter(
      total: config.maxConnections, perAddress: config.maxConnectionsPerAddress, exempt: Set(config.trustedProxies))
    metrics.connections.withLock { $0 = limiter }
    let tls = try serverTLS()
    // A connection that finishes no request within idleTimeout (a TLS handshake that never ends, a keep-alive
    // nobody uses, a slow trickle of headers) is closed; each address gets its share of the connections.
    let idle = TimeAmount.milliseconds(Int64(config.idleTimeout * 1000))
    let server = HTTPServerBuilder { responder in
      LimitedChannel(
        base: try TLSChannel(
          HTTP1Channel(responder: responder, configuration: .init(idleTimeout: idle)), tlsConfiguration: tls),
        limiter: limiter)
    }
    let app = Application(
      router: router,
      server: server,
      configuration: .init(address: .hostname(config.host, port: config.port), serverName: "airlift"),
      logger: logger)
    let group = ServiceGroup(
      configuration: .init(
        services: [
          .init(service: session), .init(service: DeploymentScheduler(deployments: deployments, interval: .seconds(1))),
          .init(service: revocations),
          .init(
            service: RetentionSweeper(
              store: store, events: config.eventRetention, status: config.statusRetention, metrics: metrics,
              blobs: blobs, logger: logger)),
          .init(service: app),
        ], gracefulShutdownSignals: signals,
        logger: logger))
    running.group.withLock { $0 = group }
    try await group.run()
  }

  /// Starts a graceful shutdown, as SIGTERM does: the listener stops
  /// accepting, idle connections close, requests in flight finish, `run`
  /// returns.
  public func shutdown() async {
    await running.group.withLock { $0 }?.triggerGracefulShutdown()
  }

  /// TLS with the controller's certificate; callers present a client
  /// certificate from the fleet CA (devices, operators) or an operator token.
  private func serverTLS() throws -> TLSConfiguration {
    var tls = TLSConfiguration.makeServerConfiguration(
      certificateChain: try NIOSSLCertificate.fromPEMFile(config.serverCertificateFile).map { .certificate($0) },
      privateKey: .privateKey(try NIOSSLPrivateKey(file: config.serverKeyFile, format: .pem)))
    tls.trustRoots = .file(config.caFile)
    // A certificate, when presented, must be the fleet CA's; without one, a caller needs an operator token.
    tls.certificateVerification = .optionalVerification
    return tls
  }
}
