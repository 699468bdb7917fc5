import AirliftCore
import AirliftCrypto
import Foundation

/// Everything `airlift serve` needs, with defaults for a loopback setup.
///
/// Keys (also the JSON config file's keys, all optional but `dataDirectory`):
/// - `host` (string, "127.0.0.1"), `port` (int, 8443): HTTPS listener.
/// - `dataDirectory` (string): blobs, and the SQLite file unless `store` says otherwise.
/// - `store` (string, "sqlite:DATA/controller.sqlite"): the database, `sqlite:PATH` or
///   `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=require]`; several controllers share one PostgreSQL
///   (docs/scale.md).
/// - `certificates` (string, "Certs/generated"): folder with `ca.crt`,
///   `controller.crt`/`.key` (HTTPS) and `controller-client.crt`/`.key` (MQTT).
/// - `brokerURL` (string, "mqtts://127.0.0.1:8883").
/// - `publicURL` (string, "https://HOST:PORT"): base of artifact URLs sent to devices.
/// - `operators` ([string], ["airlift-operator"]): certificate CNs allowed to use the operator API.
/// - `readers` ([string], []): certificate CNs allowed to read it only.
/// - `mqttIdentity` (string, none): the controller's MQTT identity `CERTIFICATES/controllers/NAME.crt`/`.key`
///   (CN `airlift-controller-NAME`, made by `Certs/new-controller NAME`) instead of `controller-client.crt`. The
///   broker takes every client's id from its certificate's CN, so each controller of a fleet needs its own.
/// - `mqttClientID` (string, "airlift-controller"): the client id the controller sends (the broker replaces it
///   with the CN).
/// - `mqttSessionExpiry` (int, 604800 = 7 days): seconds the broker keeps the controller's session (and queues
///   its share of the status events) while it is away. With several controllers, make it short (docs/scale.md):
///   the broker keeps giving a dead controller's session its share until the session expires.
/// - `shareGroup` (string, generated): the secret MQTT shared-subscription group;
///   by default a random name made once and kept in `DATA/share-group`. Give
///   every controller of one fleet the same value.
/// - `crlFile` (string, "CERTIFICATES/crl.pem"): the certificate revocation list the controller writes when a
///   device is revoked, signed with `CERTIFICATES/ca.key`; the broker reads it (`Broker/run --crl`).
/// - `maxArtifactSize` (int, 17179869184 = 16 GiB): a larger asset upload is refused with 413.
/// - `assetLinks` ({origin, secret, ttl, updates}): where `airlift-agent asset-url` links point, how long they
///   live, and whether devices download updates from there too.
/// - `maxConnections` (int, 10000), `maxConnectionsPerAddress` (int, 1000): HTTPS connections held at once, in all
///   and from one address (trusted proxies count only toward the total); more are closed at once.
/// - `idleTimeout` (seconds, 60): a connection with no request in progress (a TLS handshake that never ends, an
///   unused keep-alive, headers that trickle) is closed after this.
/// - `deviceRate` ({messagesPerSecond 20, bytesPerSecond 131072, burstSeconds 30}): what one device may send
///   over MQTT; more is dropped and counted (`airlift_device_messages_rate_limited_total`); 0 messages: no limit.
/// - `eventRetention` ({maxPerDevice 1000, maxAgeDays 30}): the telemetry events kept per device (the oldest go
///   first) and for how long.
/// - `statusRetention` ({days 90, batch 5000, every 3600}): a finished deployment's step-by-step status
///   reports are kept `days` after they arrived, then dropped (each device's final state, times and error stay
///   on the deployment), `batch` rows per transaction so ingest never waits long, swept every `every` seconds.
/// - `redelivery` ({first 60, maximum 3600}, seconds): a device that has not answered its deployment's notice is
///   shown `Retrying` after `first` and its notice goes out again, then after waits that double up to `maximum`,
///   until it answers or the deployment's device timeout fails it.
/// - `deviceCertificateLifetime` (seconds, 825 days): how long a device certificate the controller issues (at
///   enrollment, or when an agent renews its own) is valid; 60 seconds to 3650 days.
/// - `trustedProxies` ([string], []): addresses of TLS-terminating proxies whose `X-Client-Cert` header
///   (with `X-Client-Verify: SUCCESS`) stands for the caller's client certificate; from any other address
///   the header is refused.
public struct ControllerConfig: Sendable, Codable {
  public var host: String
  public var port: Int
  public var dataDirectory: String
  /// The database: nil for the SQLite file in the data folder.
  public var store: String?
  public var certificates: String
  public var brokerURL: String
  public var publicURL: String?
  public var operators: [String]
  public var readers: [String]
  public var mqttClientID: String
  /// The controller's MQTT identity in `certificates/controllers/` (nil: `controller-client`).
  public var mqttIdentity: String?
  /// HTTPS connections held at once, and per client address (trusted proxies count only toward the total).
  public var maxConnections = 10_000
  public var maxConnectionsPerAddress = 1_000
  /// Seconds a connection may stay without a request in progress (TLS handshake included) before it is closed.
  public var idleTimeout: Double = 60
  /// What one device may send over MQTT; more is dropped and counted.
  public var deviceRate = DeviceRate()
  public var shareGroup: String?
  /// Seconds the broker keeps the controller's MQTT session while it is away.
  public var mqttSessionExpiry: UInt32 = 7 * 24 * 3600
  public var crlFile: String?
  public var maxArtifactSize: Int64 = 16 << 30
  /// Short-lived links to one asset (`airlift-agent asset-url`): where they point and how long they live.
  public var assetLinks = AssetLinkConfig()
  /// Addresses of TLS-terminating proxies (nginx) whose X-Client-Cert header is believed (docs/scale.md).
  public var trustedProxies: [String] = []
  /// How uploaded assets are cut into chunks and packed for delta updates.
  public var deltas = DeltaConfig()
  public var eventRetention = EventRetention()
  public var statusRetention = StatusRetention()
  public var redelivery = Redelivery()
  /// Seconds a device certificate issued at enrollment or renewal is valid.
  public var deviceCertificateLifetime: Double = 825 * 86_400

  public init(
    host: String = "127.0.0.1", port: Int = 8443, dataDirectory: String, certificates: String = "Certs/generated",
    brokerURL: String = "mqtts://127.0.0.1:8883", publicURL: String? = nil,
    operators: [String] = ["airlift-operator"], readers: [String] = [], mqttClientID: String = "airlift-controller",
    shareGroup: String? = nil, crlFile: String? = nil
  ) {
    self.crlFile = crlFile
    self.host = host
    self.port = port
    self.dataDirectory = dataDirectory
    self.certificates = certificates
    self.brokerURL = brokerURL
    self.publicURL = publicURL
    self.operators = operators
    self.readers = readers
    self.mqttClientID = mqttClientID
    self.shareGroup = shareGroup
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    self.init(dataDirectory: try c.decode(String.self, forKey: .dataDirectory))
    host = try c.decodeIfPresent(String.self, forKey: .host) ?? host
    store = try c.decodeIfPresent(String.self, forKey: .store)
    port = try c.decodeIfPresent(Int.self, forKey: .port) ?? port
    certificates = try c.decodeIfPresent(String.self, forKey: .certificates) ?? certificates
    brokerURL = try c.decodeIfPresent(String.self, forKey: .brokerURL) ?? brokerURL
    publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
    operators = try c.decodeIfPresent([String].self, forKey: .operators) ?? operators
    readers = try c.decodeIfPresent([String].self, forKey: .readers) ?? readers
    mqttClientID = try c.decodeIfPresent(String.self, forKey: .mqttClientID) ?? mqttClientID
    mqttIdentity = try c.decodeIfPresent(String.self, forKey: .mqttIdentity)
    if let mqttIdentity, (try? Names.validateRepository(mqttIdentity)) == nil {
      throw DecodingError.dataCorruptedError(
        forKey: .mqttIdentity, in: c,
        debugDescription:
          "'\(mqttIdentity)' is not a controller identity name (lower-case letters, digits, '.', '_', '-')")
    }
    shareGroup = try c.decodeIfPresent(String.self, forKey: .shareGroup)
    mqttSessionExpiry = try c.decodeIfPresent(UInt32.self, forKey: .mqttSessionExpiry) ?? mqttSessionExpiry
    crlFile = try c.decodeIfPresent(String.self, forKey: .crlFile)
    maxArtifactSize = try c.decodeIfPresent(Int64.self, forKey: .maxArtifactSize) ?? maxArtifactSize
    assetLinks = try c.decodeIfPresent(AssetLinkConfig.self, forKey: .assetLinks) ?? assetLinks
    trustedProxies = try c.decodeIfPresent([String].self, forKey: .trustedProxies) ?? trustedProxies
    deltas = try c.decodeIfPresent(DeltaConfig.self, forKey: .deltas) ?? deltas
    eventRetention = try c.decodeIfPresent(EventRetention.self, forKey: .eventRetention) ?? eventRetention
    statusRetention = try c.decodeIfPresent(StatusRetention.self, forKey: .statusRetention) ?? statusRetention
    redelivery = try c.decodeIfPresent(Redelivery.self, forKey: .redelivery) ?? redelivery
    deviceCertificateLifetime =
      try c.decodeIfPresent(Double.self, forKey: .deviceCertificateLifetime) ?? deviceCertificateLifetime
    try c.check(
      deviceCertificateLifetime, in: 60...(3650 * 86_400), forKey: .deviceCertificateLifetime, unit: " seconds")
    maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? maxConnections
    maxConnectionsPerAddress =
      try c.decodeIfPresent(Int.self, forKey: .maxConnectionsPerAddress) ?? maxConnectionsPerAddress
    idleTimeout = try c.decodeIfPresent(Double.self, forKey: .idleTimeout) ?? idleTimeout
    deviceRate = try c.decodeIfPresent(DeviceRate.self, forKey: .deviceRate) ?? deviceRate
    guard idleTimeout.isFinite, (1...3600).contains(idleTimeout) else {
      throw DecodingError.dataCorruptedError(
        forKey: .idleTimeout, in: c, debugDescription: "is \(idleTimeout), out of range: give 1 to 3600 seconds")
    }
    let ranges: [(CodingKeys, Int64, ClosedRange<Int64>, String)] = [
      (.port, Int64(port), 1...65_535, ""),
      (.maxArtifactSize, maxArtifactSize, 1...(1 << 44), " bytes"),
      (.mqttSessionExpiry, Int64(mqttSessionExpiry), 0...(30 * 86_400), " seconds"),
      (.assetLinks, Int64(assetLinks.ttl), 1...(7 * 86_400), " seconds (ttl)"),
      (.maxConnections, Int64(maxConnections), 1...1_000_000, ""),
      (.maxConnectionsPerAddress, Int64(maxConnectionsPerAddress), 1...1_000_000, ""),
    ]
    for (key, value, range, unit) in ranges where !range.contains(value) {
      throw DecodingError.dataCorruptedError(
        forKey: key, in: c,
        debugDescription: "is \(value), out of range: give \(range.lowerBound) to \(range.upperBound)\(unit)")
    }
  }

  /// The configured database, or the SQLite file in the data folder.
  public var storeLocation: String { store ?? "sqlite:\(dataDirectory)/controller.sqlite" }
  public var caFile: String { "\(certificates)/ca.crt" }
  public var serverCertificateFile: String { "\(certificates)/controller.crt" }
  public var serverKeyFile: String { "\(certificates)/controller.key" }
  public var mqttCertificateFile: String {
    mqttIdentity.map { "\(certificates)/controllers/\($0).crt" } ?? "\(certificates)/controller-client.crt"
  }
  public var mqttKeyFile: String {
    mqttIdentity.map { "\(certificates)/controllers/\($0).key" } ?? "\(certificates)/controller-client.key"
  }
  public var baseURL: String { publicURL ?? "https://\(host):\(port)" }
  public var caKeyFile: String { "\(certificates)/ca.key" }
  public var revocationListFile: String { crlFile ?? "\(certificates)/crl.pem" }
}

extension ControllerConfig {
  /// The configured share group, or the one kept in the data folder (made
  /// on first start from 16 random bytes).
  func resolvedShareGroup() throws -> String {
    if let shareGroup { return shareGroup }
    return try Self.keptValue(at: "\(dataDirectory)/share-group") {
      var generator = SystemRandomNumberGenerator()
      return "airlift-"
        + (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
  }
}

/// What one device may send the controller over MQTT (check-ins, status
/// reports, command results): a sustained rate of messages and of bytes,
/// and a burst of `burstSeconds` of each. 0 messages per second: no limit.
public struct DeviceRate: Codable, Sendable, Equatable {
  public var messagesPerSecond: Double
  public var bytesPerSecond: Double
  public var burstSeconds: Double

  public init(messagesPerSecond: Double = 20, bytesPerSecond: Double = 131_072, burstSeconds: Double = 30) {
    self.messagesPerSecond = messagesPerSecond
    self.bytesPerSecond = bytesPerSecond
    self.burstSeconds = burstSeconds
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let defaults = DeviceRate()
    messagesPerSecond = try c.decodeIfPresent(Double.self, forKey: .messagesPerSecond) ?? defaults.messagesPerSecond
    bytesPerSecond = try c.decodeIfPresent(Double.self, forKey: .bytesPerSecond) ?? defaults.bytesPerSecond
    burstSeconds = try c.decodeIfPresent(Double.self, forKey: .burstSeconds) ?? defaults.burstSeconds
    try c.check(messagesPerSecond, in: 0...1_000_000, forKey: .messagesPerSecond)
    try c.check(bytesPerSecond, in: 1...1e12, forKey: .bytesPerSecond)
    try c.check(burstSeconds, in: 1...3600, forKey: .burstSeconds)
  }
}

/// How the controller cuts an uploaded asset for delta updates: the
/// average chunk (smaller finds more of a scattered change and makes a
/// larger index; chunks are a quarter to four times it) and the zstd level
/// of the chunk pack (higher is smaller, slower once at upload). Both apply
/// to assets uploaded from then on; each index says how it was cut.
public struct DeltaConfig: Codable, Sendable, Equatable {
  public var averageChunk: Int
  public var packLevel: Int

  public init(averageChunk: Int = 32 << 10, packLevel: Int = 9) {
    self.averageChunk = averageChunk
    self.packLevel = packLevel
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let defaults = DeltaConfig()
    averageChunk = try c.decodeIfPresent(Int.self, forKey: .averageChunk) ?? defaults.averageChunk
    packLevel = try c.decodeIfPresent(Int.self, forKey: .packLevel) ?? defaults.packLevel
    guard (16 << 10...1 << 20).contains(averageChunk), averageChunk.nonzeroBitCount == 1 else {
      throw DecodingError.dataCorruptedError(
        forKey: .averageChunk, in: c,
        debugDescription: "is \(averageChunk), out of range: give a power of two from 16384 to 1048576 bytes")
    }
    guard (1...19).contains(packLevel) else {
      throw DecodingError.dataCorruptedError(
        forKey: .packLevel, in: c, debugDescription: "is \(packLevel), out of range: give 1 to 19")
    }
  }

  /// The chunk sizes this config cuts with.
  public var parameters: ChunkingParameters {
    ChunkingParameters(minimum: averageChunk / 4, average: averageChunk, maximum: averageChunk * 4)
  }
}

/// Where asset links point and how long they live. The secret is shared
/// with an external origin that checks the links itself (nginx's
/// `secure_link`, a CDN rule); without one in the config the controller
/// keeps a generated one in its data folder (`link-secret`).
public struct AssetLinkConfig: Codable, Sendable, Equatable {
  /// The base URL links point at (`https://cdn.example.com`); nil: the controller.
  public var origin: String?
  public var secret: String?
  /// Seconds a link stays valid (default 900).
  public var ttl: Int
  /// Devices download update artifacts (assets, chunk indexes, packs) from
  /// the origin: `GET /artifacts/{sha256}` answers 307 with a fresh link.
  public var updates: Bool

  public init(origin: String? = nil, secret: String? = nil, ttl: Int = 900, updates: Bool = false) {
    self.origin = origin
    self.secret = secret
    self.ttl = ttl
    self.updates = updates
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    origin = try c.decodeIfPresent(String.self, forKey: .origin)
    secret = try c.decodeIfPresent(String.self, forKey: .secret)
    ttl = try c.decodeIfPresent(Int.self, forKey: .ttl) ?? 900
    updates = try c.decodeIfPresent(Bool.self, forKey: .updates) ?? false
    if updates, origin == nil {
      throw DecodingError.dataCorruptedError(
        forKey: .updates, in: c,
        debugDescription:
          "is true without an origin: give assetLinks.origin, the HTTPS origin that holds the blobs and checks the links"
      )
    }
  }
}

extension ControllerConfig {
  /// The link secret from the config, or the one kept in the data folder (made on first start).
  func resolvedLinkSecret() throws -> String {
    if let secret = assetLinks.secret, !secret.isEmpty { return secret }
    return try Self.keptValue(at: "\(dataDirectory)/link-secret") { AssetLinkSigner.makeSecret() }
  }

  /// The value kept in the file at `path`; when there is none yet, `make`'s,
  /// written there first. The file appears whole and only once (a hard link
  /// of a finished temporary file), so controllers sharing a data folder that
  /// start together all end up with the first one's value.
  static func keptValue(at path: String, make: () -> String) throws -> String {
    func stored() -> String? {
      guard let data = FileManager.default.contents(atPath: path) else { return nil }
      let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      return value.isEmpty ? nil : value
    }
    if let value = stored() { return value }
    let temporary = "\(path).\(UUID().uuidString)"
    guard
      FileManager.default.createFile(
        atPath: temporary, contents: Data(make().utf8), attributes: [.posixPermissions: 0o600])
    else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary]) }
    defer { unlink(temporary) }
    if link(temporary, path) != 0 && errno != EEXIST {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
    guard let value = stored() else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path]) }
    return value
  }
}

extension KeyedDecodingContainer {
  /// Refuses a config value outside its range (NaN and infinities included), naming the value and the range.
  func check<Value: Comparable>(_ value: Value, in range: ClosedRange<Value>, forKey key: Key, unit: String = "")
    throws
  {
    guard range.contains(value) else {
      throw DecodingError.dataCorruptedError(
        forKey: key, in: self,
        debugDescription: "is \(value), out of range: give \(range.lowerBound) to \(range.upperBound)\(unit)")
    }
  }
}
