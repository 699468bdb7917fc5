import AirliftAgent
import AirliftClient
import AirliftController
import AirliftCore
import AirliftCrypto
import AirliftMQTT
import AsyncHTTPClient
import Foundation
import Logging
import NIOSSL
import Synchronization
import Testing

/// One test's world, made of real parts: certificates from `Certs/`, a
/// Mosquitto broker started with `Broker/run`, the controller and agents
/// in-process, all on loopback ports picked here, under a temporary folder.
/// `Fleet.with { ... }` tears everything down even when the test fails.
final class Fleet: @unchecked Sendable {
  static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

  let root: String
  let certs: String
  let brokerPort: Int
  let httpsPort: Int
  private var broker: ChildProcess?
  private var controllerTask: Task<Void, any Error>?
  private var controllerProcess: ChildProcess?
  private(set) var controller: Controller?
  private var agentTasks: [String: Task<Void, any Error>] = [:]
  private var agentProcesses: [String: ChildProcess] = [:]
  private(set) var client: ControllerClient?

  var brokerURL: String { "mqtts://127.0.0.1:\(brokerPort)" }
  var crlFile: String { "\(root)/crl.pem" }
  var controllerURL: String { "https://127.0.0.1:\(httpsPort)" }

  static var quietLogger: Logger {
    var logger = Logger(label: "airlift.test")
    logger.logLevel = ProcessInfo.processInfo.environment["AIRLIFT_TEST_LOG"] == nil ? .critical : .debug
    return logger
  }

  /// One fleet PKI for the whole test run (made once with `Certs/init`,
  /// which is idempotent):
  /// certificates are not what most tests test, and sixty parallel
  /// `Certs/init` runs would only compete for the two cores.
  private static let sharedPKI: Result<String, any Error> = Result {
    // Inside the git-ignored build folder: reused by later runs, never committed.
    let folder = "\(repository)/.build/test-pki"
    try Fleet.run("\(repository)/Certs/init", ["--out", folder])
    // More controller identities: the broker binds each session to its certificate's CN, so a second
    // controller, or a test that publishes as one, needs its own.
    for name in ["2", "3", "tester"] {
      try Fleet.run("\(repository)/Certs/new-controller", [name, "--out", folder])
    }
    return folder
  }

  /// The run's release-signing key pair (in the shared PKI folder): the
  /// fleet's client signs every release it creates, and agents trust it.
  static let signing: Result<(key: ReleaseSigningKey, publicFile: String), any Error> = Result {
    let folder = try sharedPKI.get()
    let (privatePath, publicPath) = ("\(folder)/release-signing.key", "\(folder)/release-signing.pub")
    if !FileManager.default.fileExists(atPath: publicPath) {
      let key = try ReleaseSigningKey.generate()
      try Data(try key.pem.utf8).write(to: URL(fileURLWithPath: privatePath))
      try Data(try key.publicKey.pem.utf8).write(to: URL(fileURLWithPath: publicPath))
    }
    return (try ReleaseSigningKey(contentsOf: privatePath), publicPath)
  }

  var signingKey: ReleaseSigningKey { get throws { try Self.signing.get().key } }

  private init() throws {
    root = NSTemporaryDirectory() + "airlift-test-" + UUID().uuidString.prefix(8)
    certs = try Self.sharedPKI.get()
    brokerPort = try Loopback.freePort()
    httpsPort = try Loopback.freePort()
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
  }

  /// Runs `body` with a fleet whose broker (and, unless `controller` is
  /// false, controller) is up; devices get certificates on request.
  static func with<T>(controller: Bool = true, _ body: (Fleet) async throws -> T) async throws -> T {
    let fleet = try Fleet()
    do {
      try await fleet.start(controller: controller)
      let result = try await body(fleet)
      await fleet.stop()
      return result
    } catch {
      await fleet.stop()
      throw error
    }
  }

  /// The controller's database: the SQLite file in its data folder, or with
  /// `AIRLIFT_TEST_STORE=postgres` a new database on the test run's PostgreSQL
  /// (scripts/test runs the suite both ways). Restarts keep the same one.
  private(set) var storeLocation: String?

  static var storeUnderTest: String { ProcessInfo.processInfo.environment["AIRLIFT_TEST_STORE"] ?? "sqlite" }

  private func start(controller startController: Bool) async throws {
    if Self.storeUnderTest == "postgres" {
      storeLocation = try await PostgresServer.shared().createDatabase(prefix: "fleet")
    }
    try await startBroker()
    if startController { try await startControllerNow() }
  }

  /// Starts Mosquitto through `Broker/run` and waits until it listens.
  func startBroker() async throws {
    // Each fleet has its own revocation list, which its controller rewrites when a device is revoked.
    if !FileManager.default.fileExists(atPath: crlFile) {
      try FileManager.default.copyItem(atPath: "\(certs)/crl.pem", toPath: crlFile)
    }
    broker = try ChildProcess.spawn(
      "\(Self.repository)/Broker/run",
      ["--port", "\(brokerPort)", "--data", "\(root)/broker", "--certs", certs, "--crl", crlFile],
      output: createFile("\(root)/broker-\(UUID().uuidString.prefix(4)).log"))
    try await eventually("the broker on port \(brokerPort)", within: 60) { Loopback.isListening(self.brokerPort) }
  }

  /// Kills the broker as a crash or power cut would (its retained messages
  /// survive as far as its last autosave).
  func killBroker() {
    guard let broker, broker.isRunning else { return }
    // SIGKILL also because the test process blocks SIGTERM in its threads
    // and a child inherits that mask, so mosquitto would never see a SIGTERM.
    kill(broker.processIdentifier, SIGKILL)
    broker.waitUntilExit()
  }

  /// `publicURL` is where devices are told to fetch artifacts (a proxy in some tests).
  func startControllerNow(
    readers: [String] = [], operators: [String] = ["airlift-operator"], publicURL: String? = nil,
    maxArtifactSize: Int64? = nil, assetLinks: AssetLinkConfig? = nil, trustedProxies: [String] = [],
    configure: (inout ControllerConfig) -> Void = { _ in }
  ) async throws {
    var config = ControllerConfig(
      port: httpsPort, dataDirectory: "\(root)/controller", certificates: certs, brokerURL: brokerURL,
      publicURL: publicURL, operators: operators, readers: readers,
      mqttClientID: "airlift-controller-test", crlFile: crlFile)
    config.store = storeLocation
    if let maxArtifactSize { config.maxArtifactSize = maxArtifactSize }
    if let assetLinks { config.assetLinks = assetLinks }
    config.trustedProxies = trustedProxies
    configure(&config)
    let controller = try Controller(config: config, logger: Self.quietLogger)
    self.controller = controller
    if client == nil {
      client = try ControllerClient(
        baseURL: controllerURL, caFile: "\(certs)/ca.crt", certificate: "\(certs)/operator.crt",
        key: "\(certs)/operator.key", signer: try signingKey)
    }
    let client = self.client!
    // Seen once in ~10 fresh CI runs: a controller that never became ready. Say what happened (its error, or
    // that it hung) and try once more, so the cause shows in the log instead of a bare timeout.
    for attempt in 1...2 {
      let ended = Mutex<String?>(nil)
      let task = Task<Void, any Error> {
        do {
          try await controller.run()
          ended.withLock { $0 = "run() returned" }
        } catch {
          ended.withLock { $0 = "\(error)" }
          throw error
        }
      }
      controllerTask = task
      try? await eventually("the controller's HTTPS API and MQTT session", within: 45) {
        let healthy = await client.isHealthy()
        return healthy || ended.withLock { $0 } != nil
      }
      if await client.isHealthy() { return }
      await stopInProcessController()
      let why = ended.withLock { $0 } ?? "not ready after 45 s (hung)"
      FileHandle.standardError.write(Data("fleet: controller start \(attempt) failed: \(why)\n".utf8))
      if attempt == 2 { throw HarnessError.setup("the controller did not become ready: \(why)") }
    }
  }

  /// Stops the in-process controller (its MQTT session stays on the broker).
  func stopController() async {
    await stopInProcessController()
  }

  /// Stops the in-process controller gracefully, as SIGTERM would, and cancels it only if that has not ended it
  /// within 30 s: cancelling the server while it holds accepted connections it has not handled yet trips a
  /// precondition in NIO's async writer (apple/swift-nio#3481) and takes the whole test process down — seen
  /// when a test stopped the controller while an agent was connecting.
  private func stopInProcessController() async {
    guard let task = controllerTask else { return }
    await controller?.shutdown()
    let fallback = Task {
      try? await Task.sleep(for: .seconds(30 * testTimeScale))
      task.cancel()
    }
    _ = await task.result
    fallback.cancel()
    controllerTask = nil
  }

  /// Runs the real `airlift serve` binary (for kill -9 tests) instead of an
  /// in-process controller, and waits until it is ready. Returns the path
  /// of its log (standard output and error).
  @discardableResult
  func startControllerProcess(arguments: [String] = []) async throws -> String {
    let binary = try Self.builtBinary("airlift")
    let logPath = createFile("\(root)/controller-\(UUID().uuidString.prefix(4)).log")
    controllerProcess = try ChildProcess.spawn(
      binary,
      ["serve", "--port", "\(httpsPort)", "--data", "\(root)/controller", "--certs", certs, "--broker", brokerURL]
        + (storeLocation.map { ["--store", $0] } ?? []) + arguments,
      output: logPath)
    if client == nil {
      client = try ControllerClient(
        baseURL: controllerURL, caFile: "\(certs)/ca.crt", certificate: "\(certs)/operator.crt",
        key: "\(certs)/operator.key", signer: try signingKey)
    }
    let client = self.client!
    try await eventually("the controller process", within: 90) { await client.isHealthy() }
    return logPath
  }

  /// Stops the controller process with `signal` (SIGKILL: no chance to
  /// tidy up) and waits for it to exit; returns its exit status (128 + the
  /// signal when one ended it), or nil if it had not exited after 20 s (it
  /// is then killed).
  @discardableResult
  func killControllerProcess(_ signal: Int32 = SIGKILL) async -> Int32? {
    guard let process = controllerProcess, process.isRunning else { return controllerProcess?.terminationStatus }
    kill(process.processIdentifier, signal)
    let exited = (try? await eventually("the controller to exit", within: 20) { !process.isRunning }) != nil
    if !exited { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    return exited ? process.terminationStatus : nil
  }

  /// Issues a device certificate with `Certs/new-device` (into `certs`, or
  /// another PKI folder).
  @discardableResult
  func issueDevice(_ id: String, pki: String? = nil) throws -> (certificate: String, key: String) {
    let folder = pki ?? certs
    try Self.run("\(Self.repository)/Certs/new-device", [id, "--out", folder])
    return ("\(folder)/devices/\(id).crt", "\(folder)/devices/\(id).key")
  }

  /// A second, unrelated PKI (a CA the broker does not trust).
  func foreignPKI() throws -> String {
    let folder = "\(root)/foreign-pki"
    try Self.run("\(Self.repository)/Certs/init", ["--out", folder])
    return folder
  }

  func agentConfig(_ id: String, attributes: [String: String] = ["model": "gw-100"]) throws -> AgentConfig {
    let (certificate, key) = try issueDevice(id)
    return try agentConfig(id, certificate: certificate, key: key, attributes: attributes)
  }

  /// A config whose certificate and key files need not exist yet (enrollment makes them).
  func agentConfig(_ id: String, certificate: String, key: String, attributes: [String: String] = ["model": "gw-100"])
    throws -> AgentConfig
  {
    var config = AgentConfig(
      deviceID: id, brokerURL: brokerURL, controllerURL: controllerURL, caFile: "\(certs)/ca.crt",
      certificate: certificate, key: key, dataDirectory: "\(root)/agents/\(id)/data",
      installDirectory: "\(root)/agents/\(id)/install", attributes: attributes)
    config.progressInterval = 0.2
    config.jitter = Period(seconds: 0)
    config.recheckInterval = 1
    config.trustedKeys = [try Self.signing.get().publicFile]
    return config
  }

  /// Starts an agent in-process and waits until the controller has its check-in.
  @discardableResult
  func startAgent(_ config: AgentConfig) async throws -> Agent {
    let agent = try Agent(config: config, logger: Self.quietLogger)
    let ended = Mutex<String?>(nil)
    agentTasks[config.deviceID] = Task {
      do {
        try await agent.run()
        ended.withLock { $0 = "returned" }
      } catch {
        ended.withLock { $0 = "failed: \(error)" }
        throw error
      }
    }
    do {
      try await eventually("\(config.deviceID) to check in", within: 90) {
        try await self.client?.devices().contains { $0.id == config.deviceID && $0.online } ?? true
      }
    } catch {
      // Seen once in a fresh-clone CI run: say whether the agent stopped (and why) or runs and was not seen.
      let seen = try? await client?.devices().first { $0.id == config.deviceID }
      throw HarnessError.timedOut(
        "\(config.deviceID) to check in: the agent \(ended.withLock { $0 } ?? "still runs"); "
          + "the controller has \(seen.map { "it, online \($0.online), transport \($0.transport?.rawValue ?? "?")" } ?? "no such device")"
      )
    }
    return agent
  }

  /// Runs the real `airlift-agent` binary with `config` written to a file
  /// (for kill -9 and reboot tests); does not wait for its check-in.
  /// Returns the path of its log.
  @discardableResult
  func startAgentProcess(_ config: AgentConfig, arguments: [String] = []) throws -> String {
    let binary = try Self.builtBinary("airlift-agent")
    let folder = "\(root)/agents/\(config.deviceID)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(config).write(to: URL(fileURLWithPath: "\(folder)/agent.json"))
    let logPath = createFile("\(folder)/agent-\(UUID().uuidString.prefix(4)).log")
    agentProcesses[config.deviceID] = try ChildProcess.spawn(
      binary, ["run", "--config", "\(folder)/agent.json"] + arguments, output: logPath)
    return logPath
  }

  /// The process id of the agent `startAgentProcess` started.
  func agentPID(_ id: String) -> pid_t? { agentProcesses[id]?.processIdentifier }

  /// Runs the `airlift` command line against this fleet's controller as the operator certificate.
  func airlift(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await Fleet.execute(
      try Fleet.builtBinary("airlift"), arguments + ["--controller", controllerURL, "--certs", certs])
  }

  /// The config file `startAgentProcess` wrote (for `airlift-agent apply`).
  func agentConfigPath(_ id: String) -> String { "\(root)/agents/\(id)/agent.json" }

  /// Sends `signal` to the agent process and waits until it has exited.
  func killAgentProcess(_ id: String, _ signal: Int32 = SIGKILL) async {
    guard let process = agentProcesses[id] else { return }
    if process.isRunning { kill(process.processIdentifier, signal) }
    // Without holding one of the cooperative pool's two threads while a SIGTERM'd agent shuts down.
    _ = await process.exited()
  }

  /// Waits until the agent process ends by itself (a "reboot"); returns its exit status.
  func waitForAgentExit(_ id: String, within seconds: Double = 60) async throws -> Int32 {
    guard let process = agentProcesses[id] else { throw HarnessError.setup("no agent process \(id)") }
    try await eventually("agent \(id) to exit for its reboot", within: seconds) { !process.isRunning }
    return process.terminationStatus
  }

  func stopAgent(_ id: String) async {
    guard let task = agentTasks.removeValue(forKey: id) else { return }
    task.cancel()
    _ = await task.result
  }

  /// A raw HTTPS client presenting the given certificate (operator by default); `redirects: false` shows a 307.
  func httpClient(
    certificate: String? = nil, key: String? = nil, anonymous: Bool = false, redirects: Bool = true
  ) throws -> HTTPClient {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file("\(certs)/ca.crt")
    if !anonymous {
      tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate ?? "\(certs)/operator.crt").map {
        .certificate($0)
      }
      tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key ?? "\(certs)/operator.key", format: .pem))
    }
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    if !redirects { configuration.redirectConfiguration = .disallow }
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
  }

  /// An MQTT client with a controller's rights (the `tester` controller identity: one connection at a time,
  /// since the broker takes its client id from the certificate).
  func controllerMQTT(clientID: String = "ctl") throws -> MQTTClient {
    try mqttClient(
      certificate: "\(certs)/controllers/tester.crt", key: "\(certs)/controllers/tester.key", clientID: clientID)
  }

  /// An MQTT client with a certificate from `certs` (device or controller).
  func mqttClient(certificate: String, key: String, clientID: String, ca: String? = nil) throws -> MQTTClient {
    try MQTTClient(
      options: MQTTClientOptions(
        brokerURL: brokerURL, clientID: clientID,
        tls: .init(caFile: ca ?? "\(certs)/ca.crt", certificateFile: certificate, keyFile: key), connectTimeout: 5),
      logger: Self.quietLogger)
  }

  /// Waits until the broker holds `device`'s deployment notice for `deployment`. The controller publishes
  /// notices in the background once a deployment is created; a test that stops the controller right after must
  /// not race that publish, since a device that starts while the controller is away learns of its deployment
  /// from the broker alone.
  func waitForNotice(device: String, deployment: String) async throws {
    let id = try DeviceID(device)
    let certificate = "\(certs)/devices/\(device).crt"
    if !FileManager.default.fileExists(atPath: certificate) { _ = try issueDevice(device) }
    let peek = try mqttClient(
      certificate: certificate, key: "\(certs)/devices/\(device).key", clientID: "\(device)-notice-check")
    try await peek.connect()
    let inbox = Inbox(try await peek.subscribe(Topics.device(id, .deployment)))
    try await eventually("the broker to hold \(device)'s notice of \(deployment)") {
      inbox.all.contains {
        (try? Wire.decode(DeploymentNotice.self, from: $0.payload, topic: $0.topic))?.deployment == deployment
      }
    }
    await peek.close()
  }

  /// The first report of `device` in `deployment` that the controller stored and `matches` (they reach it on
  /// their own time, so this waits).
  func report(
    of device: String, in deployment: String, _ what: String, matches: @escaping (StatusReport) -> Bool
  ) async throws -> StatusReport {
    let store = try #require(controller?.store)
    var found: StatusReport?
    try await eventually(what) {
      found = try await store.statusEvents(deployment: deployment, device: DeviceID(device)).first(where: matches)
      return found != nil
    }
    return try #require(found)
  }

  func stop() async {
    for id in Array(agentTasks.keys) { await stopAgent(id) }
    for id in Array(agentProcesses.keys) { await killAgentProcess(id) }
    await client?.shutdown()
    await killControllerProcess()
    await stopInProcessController()
    killBroker()
    if ProcessInfo.processInfo.environment["AIRLIFT_KEEP_TEST_FILES"] == nil {
      try? FileManager.default.removeItem(atPath: root)
    }
  }

  private func createFile(_ path: String) -> String {
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    return path
  }
}
