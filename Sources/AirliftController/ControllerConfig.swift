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
/// - `mqttClientID` (string, "airlift-controller").
/// - `shareGroup` (string, generated): the secret MQTT shared-subscription group;
///   by default a random name made once and kept in `DATA/share-group`. Give
///   every controller of one fleet the same value.
/// - `crlFile` (string, "CERTIFICATES/crl.pem"): the certificate revocation list the controller writes when a
///   device is revoked, signed with `CERTIFICATES/ca.key`; the broker reads it (`Broker/run --crl`).
/// - `maxArtifactSize` (int, 17179869184 = 16 GiB): a larger asset upload is refused with 413.
/// - `assetLinks` ({origin, secret, ttl}): where `airlift-agent asset-url` links point and how long they live.
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
  public var shareGroup: String?
  public var crlFile: String?
  public var maxArtifactSize: Int64 = 16 << 30
  /// Short-lived links to one asset (`airlift-agent asset-url`): where they point and how long they live.
  public var assetLinks = AssetLinkConfig()
  /// Addresses of TLS-terminating proxies (nginx) whose X-Client-Cert header is believed (docs/scale.md).
  public var trustedProxies: [String] = []

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
    shareGroup = try c.decodeIfPresent(String.self, forKey: .shareGroup)
    crlFile = try c.decodeIfPresent(String.self, forKey: .crlFile)
    maxArtifactSize = try c.decodeIfPresent(Int64.self, forKey: .maxArtifactSize) ?? maxArtifactSize
    assetLinks = try c.decodeIfPresent(AssetLinkConfig.self, forKey: .assetLinks) ?? assetLinks
    trustedProxies = try c.decodeIfPresent([String].self, forKey: .trustedProxies) ?? trustedProxies
  }

  /// The configured database, or the SQLite file in the data folder.
  public var storeLocation: String { store ?? "sqlite:\(dataDirectory)/controller.sqlite" }
  public var caFile: String { "\(certificates)/ca.crt" }
  public var serverCertificateFile: String { "\(certificates)/controller.crt" }
  public var serverKeyFile: String { "\(certificates)/controller.key" }
  public var mqttCertificateFile: String { "\(certificates)/controller-client.crt" }
  public var mqttKeyFile: String { "\(certificates)/controller-client.key" }
  public var baseURL: String { publicURL ?? "https://\(host):\(port)" }
  public var caKeyFile: String { "\(certificates)/ca.key" }
  public var revocationListFile: String { crlFile ?? "\(certificates)/crl.pem" }
}

extension ControllerConfig {
  /// The configured share group, or the one kept in the data folder (made
  /// on first start from 16 random bytes).
  func resolvedShareGroup() throws -> String {
    if let shareGroup { return shareGroup }
    let path = "\(dataDirectory)/share-group"
    if let data = FileManager.default.contents(atPath: path),
      let name = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty
    {
      return name
    }
    var generator = SystemRandomNumberGenerator()
    let name =
      "airlift-"
      + (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
      .joined()
    try Data(name.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    return name
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

  public init(origin: String? = nil, secret: String? = nil, ttl: Int = 900) {
    self.origin = origin
    self.secret = secret
    self.ttl = ttl
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    origin = try c.decodeIfPresent(String.self, forKey: .origin)
    secret = try c.decodeIfPresent(String.self, forKey: .secret)
    ttl = try c.decodeIfPresent(Int.self, forKey: .ttl) ?? 900
  }
}

extension ControllerConfig {
  /// The link secret from the config, or the one kept in the data folder (made on first start).
  func resolvedLinkSecret() throws -> String {
    if let secret = assetLinks.secret, !secret.isEmpty { return secret }
    let path = "\(dataDirectory)/link-secret"
    if let data = FileManager.default.contents(atPath: path),
      let secret = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !secret.isEmpty
    {
      return secret
    }
    let secret = AssetLinkSigner.makeSecret()
    FileManager.default.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
    return secret
  }
}
