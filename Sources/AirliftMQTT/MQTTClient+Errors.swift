import CPaho

/// Outcomes and descriptions of Paho requests, as typed errors.
extension MQTTClient {
  /// Turns a request's outcome into success or a typed error; MQTT 5 reason
  /// codes of 0x80 and above are refusals (0x87: not authorized).
  static func check(_ outcome: PahoOutcome, operation: String, topic: String) throws(MQTTError) {
    switch outcome {
    case .success(let reasonCode) where reasonCode < 0x80:
      return
    case .success(let reasonCode):
      if reasonCode == 0x87 { throw .notAuthorized(operation: operation, topic: topic) }
      throw .operationFailed(operation: operation, topic: topic, reason: describe(reasonCode: reasonCode))
    case .failure(let code, let reasonCode, let message):
      if reasonCode == 0x87 { throw .notAuthorized(operation: operation, topic: topic) }
      throw .operationFailed(operation: operation, topic: topic, reason: failureText(code, reasonCode, message))
    }
  }

  static func pahoURI(_ url: String) throws(MQTTError) -> String {
    for (scheme, paho) in [("mqtts://", "ssl://"), ("ssl://", "ssl://"), ("mqtt://", "tcp://"), ("tcp://", "tcp://")]
    where url.hasPrefix(scheme) {
      let rest = url.dropFirst(scheme.count)
      guard let colon = rest.lastIndex(of: ":"), !rest[..<colon].isEmpty,
        let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port)
      else { throw .invalidBrokerURL(url) }
      return paho + rest
    }
    throw .invalidBrokerURL(url)
  }

  static func failureText(_ code: Int, _ reasonCode: Int, _ message: String) -> String {
    var text = message.isEmpty ? describe(code: code) : message
    if reasonCode >= 0x80 { text += " (reason code \(reasonCode): \(describe(reasonCode: reasonCode)))" }
    return text
  }

  static func describe(code: Int) -> String {
    if let text = MQTTAsync_strerror(Int32(code)) { return String(cString: text) }
    return "Paho error \(code)"
  }

  static func describe(reasonCode: Int) -> String {
    if let text = MQTTReasonCode_toString(MQTTReasonCodes(rawValue: UInt32(reasonCode))) {
      return String(cString: text)
    }
    return "reason code \(reasonCode)"
  }
}
