import AirliftCore
import Foundation

/// The agent's configuration, read from a JSON file (`--config FILE`). The
/// README's agent section lists every key with its default.
public struct AgentConfig: Codable, Sendable {
  /// Must equal the CN of `certificate`.
  public var deviceID: String
  /// `mqtts://HOST:PORT` (unused with `transport: https`).
  public var brokerURL: String
  /// `mqtt` (a broker session; the default) or `https` (no broker: check in over HTTPS every `period`).
  public var transport: DeviceTransport = .mqtt
  /// `https://HOST:PORT`.
  public var controllerURL: String
  public var caFile: String
  public var certificate: String
  public var key: String
  /// The agent's SQLite state and downloads.
  public var dataDirectory: String
  /// Where handlers install software.
  public var installDirectory: String
  /// Reported in every check-in (model, region …).
  public var attributes: [String: String] = [:]
  /// Update channels to follow: package → floating tag (`{"gw-fw": "stable"}`).
  public var channels: [String: String] = [:]
  /// Minimum time between check-ins (`30s`, `15min`, `6hr`, `1day`).
  public var period: Period = Period(seconds: 300)
  /// A random extra delay up to this long before each periodic check-in.
  public var jitter: Period = Period(seconds: 30)
  /// When the agent checks in and downloads (nil: always).
  public var schedule: UpdateWindow?
  /// When downloaded updates are installed (nil: always).
  public var apply: UpdateWindow?
  /// The time zone the windows are read in (IANA name; nil: the system's).
  public var timeZone: String?
  /// After `Downloaded`, wait for `airlift-agent apply` (or the apply window) before installing.
  public var consent: Bool = false
  /// While this file exists the agent downloads but does not install or reboot.
  public var updateLockFile: String?
  /// Run before each download and each install; a non-zero exit defers the step.
  public var preconditionCommand: [String]?
  /// Seconds between checks of a deferred step (precondition, lock, window).
  public var recheckInterval: Double = 30
  /// At most one `Downloading` event per this many seconds …
  public var progressInterval: Double = 0.5
  /// … or per this many percent, whichever comes first.
  public var progressPercent: Int = 10
  /// Download attempts per update, the first included.
  public var maxAttempts: Int = 5
  /// Exponential backoff with jitter between download attempts, in seconds.
  public var retryBaseDelay: Double = 1
  public var retryMaxDelay: Double = 60
  /// Giving up on reaching the controller for one attempt, in seconds.
  public var connectTimeout: Double = 10
  /// A download that receives no byte for this long is cut and retried.
  public var stallTimeout: Double = 30
  /// Keeps the installed version's assets (in DATA/kept), so the next update can be a delta: only the chunks
  /// the device lacks travel. Costs the disk space of one copy of them.
  public var keepAssets: Bool = true
  /// Bandwidth limit for downloads.
  public var maxBytesPerSecond: Int?
  /// Bytes a download must leave free on the data directory's filesystem.
  public var reservedDiskSpace: Int64 = 16 << 20
  /// Starts after a reboot allowed before the update counts as a boot loop and rolls back.
  public var maxBoots: Int = 3
  /// After a reboot into a new version: seconds the agent waits to reach the controller before it gives the
  /// version up (it commits only a version that passed its health check and can be managed).
  public var commitTimeout: Double = 600
  /// The `ab-slot` handler's slots and commands (nil: no `ab-slot` handler).
  public var abSlot: ABSlotConfig?
  /// How the `swupdate` handler runs SWUpdate into the `abSlot` slots (nil: no `swupdate` handler).
  public var swupdate: SWUpdateConfig?
  /// How the `rauc` handler reaches RAUC (nil: no `rauc` handler).
  public var rauc: RAUCConfig?
  /// Where a multi-step update's download steps may put files, and how its reboot step reboots.
  public var steps: StepsConfig?
  /// How the `compose` handler runs containerized apps (nil: every app, found engine and Compose).
  public var compose: ComposeConfig?
  /// Unix socket streaming `device:update` events as JSON lines (default DATA/events.sock).
  public var eventSocket: String?
  /// Executables run with each event as JSON on stdin (`device:update`, `ready`, `device:config`).
  public var hooksDirectory: String?
  /// Where the properties operators set land, as one JSON object (default DATA/properties.json).
  public var propertiesFile: String?
  /// A hook running longer is stopped, in seconds.
  public var hookTimeout: Double = 10
  /// PEM files of the Ed25519 public keys release manifests must be signed with (several while a key is
  /// rotated). Without one the agent installs nothing.
  public var trustedKeys: [String] = []
  /// The hardware this device is (`gw-200`): a release that names the hardware it is for installs only where
  /// this is one of them (RAUC's `compatible`, Mender's `device_type`). Reported to the controller.
  public var compatible: String?
  /// The share of its certificate's lifetime after which the agent renews it (2/3: a 825-day certificate at day
  /// 550), with a key it makes, through a CSR its current certificate authenticates.
  public var renewCertificateAt = 2.0 / 3.0
  /// Seconds between tries when a renewal failed (the controller unreachable, say); the old certificate stays.
  public var renewRetry: Double = 600

  public init(
    deviceID: String, brokerURL: String, controllerURL: String, caFile: String, certificate: String, key: String,
    dataDirectory: String, installDirectory: String, attributes: [String: String] = [:]
  ) {
    self.deviceID = deviceID
    self.brokerURL = brokerURL
    self.controllerURL = controllerURL
    self.caFile = caFile
    self.certificate = certificate
    self.key = key
    self.dataDirectory = dataDirectory
    self.installDirectory = installDirectory
    self.attributes = attributes
  }

  enum CodingKeys: String, CodingKey {
    case deviceID, brokerURL, controllerURL, caFile, certificate, key, dataDirectory, installDirectory, attributes
    case channels
    case period, jitter, schedule, apply, timeZone, consent, updateLockFile, preconditionCommand, recheckInterval
    case progressInterval, progressPercent, maxAttempts, retryBaseDelay, retryMaxDelay, connectTimeout, stallTimeout
    case maxBytesPerSecond, reservedDiskSpace, maxBoots, commitTimeout, abSlot, swupdate, rauc, steps, eventSocket,
      hooksDirectory,
      hookTimeout
    case trustedKeys, compose, transport, keepAssets, compatible, propertiesFile, renewCertificateAt, renewRetry
  }

  /// Where the event socket lives.
  public var eventSocketPath: String { eventSocket ?? "\(dataDirectory)/events.sock" }
  /// Where the properties are written.
  public var propertiesPath: String { propertiesFile ?? "\(dataDirectory)/properties.json" }

  /// The zone the `schedule` and `apply` windows are read in.
  public var windowTimeZone: TimeZone { timeZone.flatMap(TimeZone.init(identifier:)) ?? .current }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    deviceID = try c.decode(String.self, forKey: .deviceID)
    transport = try c.decodeIfPresent(DeviceTransport.self, forKey: .transport) ?? .mqtt
    // A polling device needs no broker.
    brokerURL = try c.decodeIfPresent(String.self, forKey: .brokerURL) ?? ""
    if transport == .mqtt && brokerURL.isEmpty {
      throw DecodingError.keyNotFound(
        CodingKeys.brokerURL,
        .init(codingPath: c.codingPath, debugDescription: "brokerURL is required unless transport is \"https\""))
    }
    controllerURL = try c.decode(String.self, forKey: .controllerURL)
    caFile = try c.decode(String.self, forKey: .caFile)
    certificate = try c.decode(String.self, forKey: .certificate)
    key = try c.decode(String.self, forKey: .key)
    dataDirectory = try c.decode(String.self, forKey: .dataDirectory)
    installDirectory = try c.decode(String.self, forKey: .installDirectory)
    attributes = try c.decodeIfPresent([String: String].self, forKey: .attributes) ?? attributes
    channels = try c.decodeIfPresent([String: String].self, forKey: .channels) ?? channels
    for (package, tag) in channels {
      do {
        try Names.validatePackage(package)
        try Names.validateTag(tag)
      } catch {
        throw DecodingError.dataCorruptedError(
          forKey: .channels, in: c, debugDescription: "'\(package)': '\(tag)' is not a channel: \(error)")
      }
    }
    period = try Self.period(c, .period) ?? period
    jitter = try Self.period(c, .jitter) ?? jitter
    schedule = try Self.window(c, .schedule)
    apply = try Self.window(c, .apply)
    timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone)
    if let timeZone, TimeZone(identifier: timeZone) == nil {
      throw DecodingError.dataCorruptedError(
        forKey: .timeZone, in: c,
        debugDescription: "unknown time zone '\(timeZone)' (use an IANA name like Europe/Berlin)")
    }
    consent = try c.decodeIfPresent(Bool.self, forKey: .consent) ?? consent
    updateLockFile = try c.decodeIfPresent(String.self, forKey: .updateLockFile)
    preconditionCommand = try c.decodeIfPresent([String].self, forKey: .preconditionCommand)
    recheckInterval = try c.decodeIfPresent(Double.self, forKey: .recheckInterval) ?? recheckInterval
    progressInterval = try c.decodeIfPresent(Double.self, forKey: .progressInterval) ?? progressInterval
    progressPercent = try c.decodeIfPresent(Int.self, forKey: .progressPercent) ?? progressPercent
    maxAttempts = try c.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? maxAttempts
    retryBaseDelay = try c.decodeIfPresent(Double.self, forKey: .retryBaseDelay) ?? retryBaseDelay
    retryMaxDelay = try c.decodeIfPresent(Double.self, forKey: .retryMaxDelay) ?? retryMaxDelay
    connectTimeout = try c.decodeIfPresent(Double.self, forKey: .connectTimeout) ?? connectTimeout
    stallTimeout = try c.decodeIfPresent(Double.self, forKey: .stallTimeout) ?? stallTimeout
    keepAssets = try c.decodeIfPresent(Bool.self, forKey: .keepAssets) ?? keepAssets
    maxBytesPerSecond = try c.decodeIfPresent(Int.self, forKey: .maxBytesPerSecond)
    reservedDiskSpace = try c.decodeIfPresent(Int64.self, forKey: .reservedDiskSpace) ?? reservedDiskSpace
    maxBoots = try c.decodeIfPresent(Int.self, forKey: .maxBoots) ?? maxBoots
    commitTimeout = try c.decodeIfPresent(Double.self, forKey: .commitTimeout) ?? commitTimeout
    abSlot = try c.decodeIfPresent(ABSlotConfig.self, forKey: .abSlot)
    swupdate = try c.decodeIfPresent(SWUpdateConfig.self, forKey: .swupdate)
    rauc = try c.decodeIfPresent(RAUCConfig.self, forKey: .rauc)
    steps = try c.decodeIfPresent(StepsConfig.self, forKey: .steps)
    compose = try c.decodeIfPresent(ComposeConfig.self, forKey: .compose)
    eventSocket = try c.decodeIfPresent(String.self, forKey: .eventSocket)
    hooksDirectory = try c.decodeIfPresent(String.self, forKey: .hooksDirectory)
    propertiesFile = try c.decodeIfPresent(String.self, forKey: .propertiesFile)
    hookTimeout = try c.decodeIfPresent(Double.self, forKey: .hookTimeout) ?? hookTimeout
    trustedKeys = try c.decodeIfPresent([String].self, forKey: .trustedKeys) ?? trustedKeys
    renewCertificateAt = try c.decodeIfPresent(Double.self, forKey: .renewCertificateAt) ?? renewCertificateAt
    renewRetry = try c.decodeIfPresent(Double.self, forKey: .renewRetry) ?? renewRetry
    guard renewCertificateAt.isFinite, (0.05...0.95).contains(renewCertificateAt) else {
      throw DecodingError.dataCorruptedError(
        forKey: .renewCertificateAt, in: c,
        debugDescription: "is \(renewCertificateAt), out of range: give a share of the lifetime from 0.05 to 0.95")
    }
    compatible = try c.decodeIfPresent(String.self, forKey: .compatible)
    if let compatible {
      do { try Names.validateTag(compatible) } catch {
        throw DecodingError.dataCorruptedError(forKey: .compatible, in: c, debugDescription: "\(error)")
      }
    }
    try Self.checkRanges(self, c)
  }

  /// Every number of the config in a range the agent can compute with (seconds up to a day or a month, counts
  /// up to a thousand), so a typo is a clear error at start, not a busy loop or a crash later.
  private static func checkRanges(_ config: AgentConfig, _ c: KeyedDecodingContainer<CodingKeys>) throws {
    let day = 86_400.0
    let seconds: [(CodingKeys, Double, ClosedRange<Double>)] = [
      (.recheckInterval, config.recheckInterval, 0.1...day),
      (.progressInterval, config.progressInterval, 0...day),
      (.retryBaseDelay, config.retryBaseDelay, 0.01...day),
      (.retryMaxDelay, config.retryMaxDelay, 0.01...day),
      (.connectTimeout, config.connectTimeout, 0.1...3600),
      (.stallTimeout, config.stallTimeout, 0.1...day),
      (.hookTimeout, config.hookTimeout, 0.1...day),
      (.renewRetry, config.renewRetry, 1...day),
      (.commitTimeout, config.commitTimeout, 1...day),
      (.period, Double(config.period.seconds), 1...(30 * day)),
      (.jitter, Double(config.jitter.seconds), 0...day),
    ]
    for (key, value, range) in seconds where !(value.isFinite && range.contains(value)) {
      throw DecodingError.dataCorruptedError(
        forKey: key, in: c,
        debugDescription: "is \(value), out of range: give \(range.lowerBound) to \(Int(range.upperBound)) seconds")
    }
    let counts: [(CodingKeys, Int64?, ClosedRange<Int64>)] = [
      (.maxAttempts, Int64(config.maxAttempts), 1...1000),
      (.maxBoots, Int64(config.maxBoots), 1...1000),
      (.progressPercent, Int64(config.progressPercent), 0...100),
      (.maxBytesPerSecond, config.maxBytesPerSecond.map(Int64.init), 0...(1 << 40)),
      (.reservedDiskSpace, config.reservedDiskSpace, 0...(1 << 50)),
    ]
    for (key, value, range) in counts {
      guard let value, !range.contains(value) else { continue }
      throw DecodingError.dataCorruptedError(
        forKey: key, in: c,
        debugDescription: "is \(value), out of range: give \(range.lowerBound) to \(range.upperBound)")
    }
    if let timeout = config.compose?.verifyTimeout, !(timeout.isFinite && (1...day).contains(timeout)) {
      throw DecodingError.dataCorruptedError(
        forKey: .compose, in: c, debugDescription: "verifyTimeout is \(timeout), out of range: give 1 to 86400 seconds")
    }
    if let timeout = config.rauc?.commandTimeout, !(timeout.isFinite && (1...day).contains(timeout)) {
      throw DecodingError.dataCorruptedError(
        forKey: .rauc, in: c, debugDescription: "commandTimeout is \(timeout), out of range: give 1 to 86400 seconds")
    }
    if let timeout = config.abSlot?.commandTimeout, !(timeout.isFinite && (1...day).contains(timeout)) {
      throw DecodingError.dataCorruptedError(
        forKey: .abSlot, in: c, debugDescription: "commandTimeout is \(timeout), out of range: give 1 to 86400 seconds")
    }
    if let problem = config.steps?.problem {
      throw DecodingError.dataCorruptedError(forKey: .steps, in: c, debugDescription: problem)
    }
    if let problem = config.abSlot?.problem {
      throw DecodingError.dataCorruptedError(forKey: .abSlot, in: c, debugDescription: problem)
    }
    if let problem = config.swupdate?.problem(slots: config.abSlot) {
      throw DecodingError.dataCorruptedError(forKey: .swupdate, in: c, debugDescription: problem)
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(deviceID, forKey: .deviceID)
    try c.encode(brokerURL, forKey: .brokerURL)
    try c.encode(transport, forKey: .transport)
    try c.encode(controllerURL, forKey: .controllerURL)
    try c.encode(caFile, forKey: .caFile)
    try c.encode(certificate, forKey: .certificate)
    try c.encode(key, forKey: .key)
    try c.encode(dataDirectory, forKey: .dataDirectory)
    try c.encode(installDirectory, forKey: .installDirectory)
    try c.encode(attributes, forKey: .attributes)
    try c.encode(channels, forKey: .channels)
    try c.encode(period.description, forKey: .period)
    try c.encode(jitter.description, forKey: .jitter)
    try c.encodeIfPresent(schedule?.expression, forKey: .schedule)
    try c.encodeIfPresent(apply?.expression, forKey: .apply)
    try c.encodeIfPresent(timeZone, forKey: .timeZone)
    try c.encode(consent, forKey: .consent)
    try c.encodeIfPresent(updateLockFile, forKey: .updateLockFile)
    try c.encodeIfPresent(preconditionCommand, forKey: .preconditionCommand)
    try c.encode(recheckInterval, forKey: .recheckInterval)
    try c.encode(progressInterval, forKey: .progressInterval)
    try c.encode(progressPercent, forKey: .progressPercent)
    try c.encode(maxAttempts, forKey: .maxAttempts)
    try c.encode(retryBaseDelay, forKey: .retryBaseDelay)
    try c.encode(retryMaxDelay, forKey: .retryMaxDelay)
    try c.encode(connectTimeout, forKey: .connectTimeout)
    try c.encode(stallTimeout, forKey: .stallTimeout)
    try c.encode(keepAssets, forKey: .keepAssets)
    try c.encodeIfPresent(maxBytesPerSecond, forKey: .maxBytesPerSecond)
    try c.encode(reservedDiskSpace, forKey: .reservedDiskSpace)
    try c.encode(maxBoots, forKey: .maxBoots)
    try c.encode(commitTimeout, forKey: .commitTimeout)
    try c.encodeIfPresent(abSlot, forKey: .abSlot)
    try c.encodeIfPresent(swupdate, forKey: .swupdate)
    try c.encodeIfPresent(rauc, forKey: .rauc)
    try c.encodeIfPresent(steps, forKey: .steps)
    try c.encodeIfPresent(compose, forKey: .compose)
    try c.encodeIfPresent(eventSocket, forKey: .eventSocket)
    try c.encodeIfPresent(hooksDirectory, forKey: .hooksDirectory)
    try c.encodeIfPresent(propertiesFile, forKey: .propertiesFile)
    try c.encode(hookTimeout, forKey: .hookTimeout)
    try c.encode(trustedKeys, forKey: .trustedKeys)
    try c.encodeIfPresent(compatible, forKey: .compatible)
    try c.encode(renewCertificateAt, forKey: .renewCertificateAt)
    try c.encode(renewRetry, forKey: .renewRetry)
  }

  /// A period given as text (`15min`) or as a number of seconds.
  private static func period(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Period? {
    if let seconds = try? c.decodeIfPresent(Int.self, forKey: key) { return Period(seconds: seconds) }
    guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
    do throws(PeriodError) {
      return try Period(text)
    } catch {
      throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: error.description)
    }
  }

  private static func window(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> UpdateWindow? {
    guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
    do throws(UpdateWindowError) {
      return try UpdateWindow(text)
    } catch {
      throw DecodingError.dataCorruptedError(
        forKey: key, in: c, debugDescription: "\(error.description)\n\(error.pointer)")
    }
  }

  /// Reads and checks a config file, with an error naming the file and key.
  public static func load(path: String) throws(AgentError) -> AgentConfig {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .config(path: path, reason: "cannot read the file")
    }
    return try decode(data, path: path)
  }

  /// Decodes a config, with an error naming `path` and the key.
  public static func decode(_ data: Data, path: String) throws(AgentError) -> AgentConfig {
    do {
      return try JSONDecoder().decode(AgentConfig.self, from: data)
    } catch DecodingError.keyNotFound(let key, _) {
      throw .config(path: path, reason: "missing key '\(key.stringValue)'")
    } catch DecodingError.typeMismatch(_, let context) {
      throw .config(path: path, reason: "wrong type for '\(Self.keyPath(context))'")
    } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
      throw .config(path: path, reason: "'\(Self.keyPath(context))': \(context.debugDescription)")
    } catch {
      throw .config(path: path, reason: "not valid JSON")
    }
  }

  private static func keyPath(_ context: DecodingError.Context) -> String {
    context.codingPath.map(\.stringValue).joined(separator: ".")
  }
}
