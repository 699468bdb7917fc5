import Foundation

/// The agent's configuration, read from a JSON file (`--config FILE`).
///
/// Keys:
/// - `deviceID` (string, required): must equal the CN of `certificate`.
/// - `brokerURL` (string, required): `mqtts://HOST:PORT`.
/// - `controllerURL` (string, required): `https://HOST:PORT`.
/// - `caFile`, `certificate`, `key` (strings, required): fleet CA, device cert and key.
/// - `dataDirectory` (string, required): agent SQLite state and downloads.
/// - `installDirectory` (string, required): where handlers install software.
/// - `attributes` (object of strings, {}): reported in every check-in (model, region …).
/// - `checkInInterval` (seconds, 300): how often to check in and ask for the desired deployment.
/// - `progressInterval` (seconds, 0.5): at most one `Downloading` event per interval.
/// - `maxAttempts` (int, 5): download attempts per update, the first included.
/// - `retryBaseDelay`, `retryMaxDelay` (seconds, 1 and 60): exponential backoff with jitter between attempts.
/// - `connectTimeout` (seconds, 10): giving up on reaching the controller for one attempt.
/// - `stallTimeout` (seconds, 30): a download that receives no byte for this long is cut and retried.
/// - `maxBytesPerSecond` (int, none): bandwidth limit for downloads.
/// - `eventSocket` (string, DATA/events.sock): Unix socket streaming `device:update` events as JSON lines.
/// - `hooksDirectory` (string, none): executables run with each event as JSON on stdin.
/// - `hookTimeout` (seconds, 10): a hook running longer is stopped.
public struct AgentConfig: Codable, Sendable {
  public var deviceID: String
  public var brokerURL: String
  public var controllerURL: String
  public var caFile: String
  public var certificate: String
  public var key: String
  public var dataDirectory: String
  public var installDirectory: String
  public var attributes: [String: String]
  public var checkInInterval: Double
  public var progressInterval: Double
  public var maxAttempts: Int
  public var retryBaseDelay: Double
  public var retryMaxDelay: Double
  public var connectTimeout: Double
  public var stallTimeout: Double
  public var maxBytesPerSecond: Int?
  public var eventSocket: String?
  public var hooksDirectory: String?
  public var hookTimeout: Double

  public init(
    deviceID: String, brokerURL: String, controllerURL: String, caFile: String, certificate: String, key: String,
    dataDirectory: String, installDirectory: String, attributes: [String: String] = [:],
    checkInInterval: Double = 300, progressInterval: Double = 0.5, maxAttempts: Int = 5,
    retryBaseDelay: Double = 1, retryMaxDelay: Double = 60, connectTimeout: Double = 10, stallTimeout: Double = 30,
    maxBytesPerSecond: Int? = nil, eventSocket: String? = nil, hooksDirectory: String? = nil, hookTimeout: Double = 10
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
    self.checkInInterval = checkInInterval
    self.progressInterval = progressInterval
    self.maxAttempts = maxAttempts
    self.retryBaseDelay = retryBaseDelay
    self.retryMaxDelay = retryMaxDelay
    self.connectTimeout = connectTimeout
    self.stallTimeout = stallTimeout
    self.maxBytesPerSecond = maxBytesPerSecond
    self.eventSocket = eventSocket
    self.hooksDirectory = hooksDirectory
    self.hookTimeout = hookTimeout
  }

  /// Where the event socket lives.
  public var eventSocketPath: String { eventSocket ?? "\(dataDirectory)/events.sock" }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    deviceID = try c.decode(String.self, forKey: .deviceID)
    brokerURL = try c.decode(String.self, forKey: .brokerURL)
    controllerURL = try c.decode(String.self, forKey: .controllerURL)
    caFile = try c.decode(String.self, forKey: .caFile)
    certificate = try c.decode(String.self, forKey: .certificate)
    key = try c.decode(String.self, forKey: .key)
    dataDirectory = try c.decode(String.self, forKey: .dataDirectory)
    installDirectory = try c.decode(String.self, forKey: .installDirectory)
    attributes = try c.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
    checkInInterval = try c.decodeIfPresent(Double.self, forKey: .checkInInterval) ?? 300
    progressInterval = try c.decodeIfPresent(Double.self, forKey: .progressInterval) ?? 0.5
    maxAttempts = try c.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? 5
    retryBaseDelay = try c.decodeIfPresent(Double.self, forKey: .retryBaseDelay) ?? 1
    retryMaxDelay = try c.decodeIfPresent(Double.self, forKey: .retryMaxDelay) ?? 60
    connectTimeout = try c.decodeIfPresent(Double.self, forKey: .connectTimeout) ?? 10
    stallTimeout = try c.decodeIfPresent(Double.self, forKey: .stallTimeout) ?? 30
    maxBytesPerSecond = try c.decodeIfPresent(Int.self, forKey: .maxBytesPerSecond)
    eventSocket = try c.decodeIfPresent(String.self, forKey: .eventSocket)
    hooksDirectory = try c.decodeIfPresent(String.self, forKey: .hooksDirectory)
    hookTimeout = try c.decodeIfPresent(Double.self, forKey: .hookTimeout) ?? 10
  }

  /// Reads and checks a config file, with an error naming the file and key.
  public static func load(path: String) throws(AgentError) -> AgentConfig {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .config(path: path, reason: "cannot read the file")
    }
    do {
      return try JSONDecoder().decode(AgentConfig.self, from: data)
    } catch DecodingError.keyNotFound(let key, _) {
      throw .config(path: path, reason: "missing key '\(key.stringValue)'")
    } catch DecodingError.typeMismatch(_, let context) {
      throw .config(
        path: path, reason: "wrong type for '\(context.codingPath.map(\.stringValue).joined(separator: "."))'")
    } catch {
      throw .config(path: path, reason: "not valid JSON")
    }
  }
}
