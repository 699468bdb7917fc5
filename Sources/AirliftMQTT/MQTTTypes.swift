/// A message received on a subscription.
public struct MQTTMessage: Sendable, Equatable {
  public var topic: String
  public var payload: [UInt8]
  public var qos: Int
  public var retained: Bool

  public init(topic: String, payload: [UInt8], qos: Int = 1, retained: Bool = false) {
    self.topic = topic
    self.payload = payload
    self.qos = qos
    self.retained = retained
  }
}

/// What the client tells its owner about the connection.
public enum MQTTConnectionEvent: Sendable, Equatable {
  /// Connected; `reconnect` is true after an automatic reconnect.
  case connected(reconnect: Bool)
  /// The connection dropped; the client reconnects on its own.
  case lost(reason: String)
}

/// How to reach and authenticate to the broker.
public struct MQTTClientOptions: Sendable {
  /// Files for mutual TLS: the fleet CA, and this client's certificate and key.
  public struct TLS: Sendable {
    public var caFile: String
    public var certificateFile: String
    public var keyFile: String

    public init(caFile: String, certificateFile: String, keyFile: String) {
      self.caFile = caFile
      self.certificateFile = certificateFile
      self.keyFile = keyFile
    }
  }

  /// The last will the broker publishes when this client disappears.
  public struct Will: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool

    public init(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = true) {
      self.topic = topic
      self.payload = payload
      self.qos = qos
      self.retain = retain
    }
  }

  /// `mqtts://host:port` (TLS) or `mqtt://host:port`.
  public var brokerURL: String
  public var clientID: String
  public var tls: TLS?
  public var will: Will?
  /// Start without a stored session; with `false` the broker keeps the
  /// session for `sessionExpiry` seconds while the client is away.
  public var cleanStart: Bool
  public var sessionExpiry: UInt32
  public var keepAlive: Int
  public var connectTimeout: Int
  /// Messages kept while disconnected and sent on reconnect.
  public var maxBufferedMessages: Int
  /// Bounds of the automatic reconnect backoff, in seconds.
  public var minRetryInterval: Int
  public var maxRetryInterval: Int

  /// A reconnect backoff start of 1 to 4 s, for devices. Paho doubles the
  /// wait without jitter, so a fleet that lost its broker at one moment
  /// would knock in the same second, overflow the broker's accept queue and
  /// back off together to 16 s (bench/fleet); with four starts it comes
  /// back in waves the broker can take.
  public static func spreadRetryStart() -> Int { Int.random(in: 1...4) }

  public init(
    brokerURL: String, clientID: String, tls: TLS? = nil, will: Will? = nil,
    cleanStart: Bool = true, sessionExpiry: UInt32 = 7 * 24 * 3600, keepAlive: Int = 30,
    connectTimeout: Int = 10, maxBufferedMessages: Int = 1000, minRetryInterval: Int = 1,
    maxRetryInterval: Int = 30
  ) {
    self.brokerURL = brokerURL
    self.clientID = clientID
    self.tls = tls
    self.will = will
    self.cleanStart = cleanStart
    self.sessionExpiry = sessionExpiry
    self.keepAlive = keepAlive
    self.connectTimeout = connectTimeout
    self.maxBufferedMessages = maxBufferedMessages
    self.minRetryInterval = minRetryInterval
    self.maxRetryInterval = maxRetryInterval
  }
}

/// What went wrong talking to the broker, in words an operator can act on.
public enum MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
  case invalidBrokerURL(String)
  case clientCreationFailed(String)
  case connectFailed(broker: String, reason: String)
  case tlsHandshakeFailed(broker: String, detail: String)
  case notAuthorized(operation: String, topic: String)
  case operationFailed(operation: String, topic: String, reason: String)
  case closed

  public var description: String {
    switch self {
    case .invalidBrokerURL(let url):
      return "invalid broker URL '\(url)': expected mqtts://HOST:PORT or mqtt://HOST:PORT"
    case .clientCreationFailed(let reason):
      return "could not create the MQTT client: \(reason)"
    case .connectFailed(let broker, let reason):
      return "could not connect to the MQTT broker at \(broker): \(reason)"
    case .tlsHandshakeFailed(let broker, let detail):
      return
        "TLS handshake with the MQTT broker at \(broker) failed: \(detail). Check that this certificate was issued by the fleet CA the broker trusts, and that the CA file names the broker's CA."
    case .notAuthorized(let operation, let topic):
      return "the broker refused to \(operation) '\(topic)': not authorized for this certificate"
    case .operationFailed(let operation, let topic, let reason):
      return "MQTT \(operation) on '\(topic)' failed: \(reason)"
    case .closed:
      return "the MQTT client is closed"
    }
  }
}
