import AirliftCore
import CPaho
import Logging
import Synchronization

/// An async MQTT 5 client over Eclipse Paho (the only code that sees Paho).
///
/// Connects with mutual TLS and a last will, hands out subscriptions as
/// `AsyncStream`s, publishes with QoS 0/1, buffers publishes while the link
/// is down, reconnects on its own and subscribes again after a reconnect.
public final class MQTTClient: Sendable {
  /// Paho's client handle. Paho locks internally, so calls from any thread
  /// are safe; the handle is destroyed exactly once, in `close()`.
  private struct Handle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
  }

  private struct Subscription {
    var filter: String
    var qos: Int
    var continuation: AsyncStream<MQTTMessage>.Continuation
  }

  private struct State {
    var handle: Handle?
    var subscriptions: [Int: Subscription] = [:]
    var nextSubscription = 1
    /// Successful connections Paho reported (the first one included).
    var connections = 0
    /// Set once `connect()` succeeded; before that, `subscribe` only registers.
    var connected = false
    var lastTLSError: String?
    var closed = false
  }

  public let options: MQTTClientOptions
  private let pool = CStringPool()
  private let state = Mutex(State())
  private let publishes = Atomic<Int64>(0)
  private let publishFailures = Atomic<Int64>(0)
  private let logger: Logger
  private let eventContinuation: AsyncStream<MQTTConnectionEvent>.Continuation
  /// Connection changes: connected, reconnected, lost.
  public let events: AsyncStream<MQTTConnectionEvent>
  /// This client's key in the callback registry, handed to Paho as context.
  let contextID: Int

  public init(options: MQTTClientOptions, logger: Logger = Logger(label: "airlift.mqtt")) throws(MQTTError) {
    self.options = options
    self.logger = logger
    (events, eventContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(16))
    let uri = try Self.pahoURI(options.brokerURL)
    contextID = CallbackRegistry.shared.reserveID()
    var createOptions = cpaho_create_options()
    createOptions.MQTTVersion = MQTTVERSION_5
    createOptions.sendWhileDisconnected = 1
    createOptions.maxBufferedMessages = Int32(options.maxBufferedMessages)
    var raw: UnsafeMutableRawPointer?
    let rc = MQTTAsync_createWithOptions(
      &raw, uri, options.clientID, MQTTCLIENT_PERSISTENCE_NONE, nil, &createOptions)
    guard rc == MQTTASYNC_SUCCESS, let raw else {
      throw .clientCreationFailed(Self.describe(code: Int(rc)))
    }
    state.withLock { $0.handle = Handle(raw: raw) }
    CallbackRegistry.shared.register(self, id: contextID)
    let context = UnsafeMutableRawPointer(bitPattern: contextID)
    MQTTAsync_setCallbacks(
      raw, context,
      { context, cause in
        let reason = cause.map { String(cString: $0) } ?? "connection lost"
        CallbackRegistry.shared.client(context)?.connectionLost(reason)
        if let cause { MQTTAsync_free(cause) }
      },
      { context, topicName, topicLength, message in
        var message = message
        defer {
          MQTTAsync_freeMessage(&message)
          MQTTAsync_free(topicName)
        }
        guard let topicName, let body = message?.pointee else { return 1 }
        let topic =
          topicLength > 0
          ? String(
            decoding: UnsafeRawBufferPointer(start: topicName, count: Int(topicLength)), as: UTF8.self)
          : String(cString: topicName)
        let payload =
          body.payloadlen > 0 && body.payload != nil
          ? [UInt8](UnsafeRawBufferPointer(start: body.payload, count: Int(body.payloadlen)))
          : []
        CallbackRegistry.shared.client(context)?.deliver(
          MQTTMessage(topic: topic, payload: payload, qos: Int(body.qos), retained: body.retained != 0))
        return 1
      },
      nil)
    MQTTAsync_setConnected(
      raw, context,
      { context, _ in
        CallbackRegistry.shared.client(context)?.connectedInBackground()
      })
  }

  deinit {
    if let handle = state.withLock({ $0.handle }) {
      var raw: UnsafeMutableRawPointer? = handle.raw
      MQTTAsync_destroy(&raw)
    }
  }

  // MARK: Connect and close

  /// Connects once; after that, Paho reconnects by itself when the link drops.
  public func connect() async throws(MQTTError) {
    let handle = try currentHandle()
    state.withLock { $0.lastTLSError = nil }
    var connect = cpaho_connect_options()
    connect.keepAliveInterval = Int32(options.keepAlive)
    connect.cleanstart = options.cleanStart ? 1 : 0
    connect.connectTimeout = Int32(options.connectTimeout)
    connect.automaticReconnect = 1
    connect.minRetryInterval = Int32(options.minRetryInterval)
    connect.maxRetryInterval = Int32(options.maxRetryInterval)

    var ssl = cpaho_ssl_options()
    if let tls = options.tls {
      ssl.trustStore = pool.string(tls.caFile)
      ssl.keyStore = pool.string(tls.certificateFile)
      ssl.privateKey = pool.string(tls.keyFile)
      ssl.enableServerCertAuth = 1
      ssl.verify = 1
      ssl.ssl_error_context = UnsafeMutableRawPointer(bitPattern: contextID)
      ssl.ssl_error_cb = { text, length, context in
        if let text {
          let message = String(
            decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
          CallbackRegistry.shared.client(context)?.recordTLSError(message)
        }
        return 0
      }
    }
    var will = cpaho_will_options()
    if let w = options.will {
      will.topicName = pool.string(w.topic)
      will.payload.data = pool.bytes(w.payload)
      will.payload.len = Int32(w.payload.count)
      will.qos = Int32(w.qos)
      will.retained = w.retain ? 1 : 0
    }
    var properties = cpaho_properties()
    defer { MQTTProperties_free(&properties) }
    if !options.cleanStart {
      var expiry = MQTTProperty()
      expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL
      expiry.value.integer4 = options.sessionExpiry
      MQTTProperties_add(&properties, &expiry)
    }

    let outcome = await perform { context in
      connect.context = context
      connect.onSuccess5 = pahoSuccess
      connect.onFailure5 = pahoFailure
      return withUnsafeMutablePointer(to: &ssl) { ssl in
        withUnsafeMutablePointer(to: &will) { will in
          withUnsafeMutablePointer(to: &properties) { properties in
            if options.tls != nil { connect.ssl = ssl }
            if options.will != nil { connect.will = will }
            connect.connectProperties = properties
            return MQTTAsync_connect(handle.raw, &connect)
          }
        }
      }
    }
    switch outcome {
    case .success:
      let registered = state.withLock { state in
        state.connected = true
        return Set(state.subscriptions.values.map { Pair(filter: $0.filter, qos: $0.qos) })
      }
      for pair in registered {
        try Self.check(
          await sendSubscribe(handle: handle, filter: pair.filter, qos: pair.qos), operation: "subscribe to",
          topic: pair.filter)
      }
      logger.info("connected to MQTT broker", metadata: ["broker": .string(options.brokerURL)])
      eventContinuation.yield(.connected(reconnect: false))
    case .failure(let code, let reasonCode, let message):
      let tlsError = state.withLock { $0.lastTLSError }
      if let tlsError {
        throw .tlsHandshakeFailed(broker: options.brokerURL, detail: tlsError)
      }
      var reason = message.isEmpty ? Self.describe(code: code) : message
      if reasonCode >= 0x80 { reason += " (reason code \(reasonCode): \(Self.describe(reasonCode: reasonCode)))" }
      if code == -1 && options.tls != nil {
        reason +=
          " (for a TLS listener this usually means the handshake failed: the broker did not accept this certificate, or it is not signed by the fleet CA)"
      }
      throw .connectFailed(broker: options.brokerURL, reason: reason)
    }
  }

  /// Disconnects (sending no last will), ends every subscription stream and
  /// frees the Paho client. The client cannot be used afterwards.
  public func close() async {
    let handle: Handle? = state.withLock { state in
      guard !state.closed else { return nil }
      state.closed = true
      return state.handle
    }
    guard let handle else { return }
    if MQTTAsync_isConnected(handle.raw) != 0 {
      // Bounded: Paho does not always answer a disconnect (for instance
      // while it is reconnecting), and closing must never hang.
      await withTaskGroup(of: Void.self) { group in
        group.addTask {
          _ = await self.perform { context in
            var options = cpaho_disconnect_options()
            options.timeout = 1000
            options.context = context
            options.onSuccess5 = { context, _ in CallbackRegistry.shared.complete(context, .success(reasonCode: 0)) }
            options.onFailure5 = pahoFailure
            return MQTTAsync_disconnect(handle.raw, &options)
          }
        }
        group.addTask { try? await Task.sleep(for: .seconds(2)) }
        await group.next()
        group.cancelAll()
      }
    }
    CallbackRegistry.shared.unregister(client: contextID)
    CallbackRegistry.shared.failAll(owner: contextID, message: "client closed")
    let subscriptions = state.withLock { state in
      defer {
        state.subscriptions.removeAll()
        state.handle = nil
      }
      return Array(state.subscriptions.values)
    }
    for subscription in subscriptions { subscription.continuation.finish() }
    eventContinuation.finish()
    var raw: UnsafeMutableRawPointer? = handle.raw
    MQTTAsync_destroy(&raw)
  }

  public var isConnected: Bool {
    guard let handle = try? currentHandle() else { return false }
    return MQTTAsync_isConnected(handle.raw) != 0
  }

  // MARK: Subscribe and publish

  /// Subscribes to `filter` and returns its messages. The subscription is
  /// renewed after every reconnect; it ends when the client closes.
  ///
  /// Called before `connect()`, it only registers the filter; `connect()`
  /// then subscribes at the broker. That way the messages a resumed
  /// persistent session delivers right after CONNACK find their stream.
  public func subscribe(_ filter: String, qos: Int = 1) async throws(MQTTError) -> AsyncStream<MQTTMessage> {
    let handle = try currentHandle()
    let (stream, continuation) = AsyncStream.makeStream(of: MQTTMessage.self)
    let (key, connected) = state.withLock { state in
      let key = state.nextSubscription
      state.nextSubscription += 1
      state.subscriptions[key] = Subscription(filter: filter, qos: qos, continuation: continuation)
      return (key, state.connected)
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.subscriptions.removeValue(forKey: key) }
    }
    guard connected else { return stream }
    let outcome = await sendSubscribe(handle: handle, filter: filter, qos: qos)
    do {
      try Self.check(outcome, operation: "subscribe to", topic: filter)
    } catch {
      state.withLock { _ = $0.subscriptions.removeValue(forKey: key) }
      throw error
    }
    return stream
  }

  /// Publishes and returns when the broker has it (QoS 1: PUBACK received;
  /// QoS 0: written). While disconnected the message waits in Paho's buffer
  /// and this call returns once it has been delivered after a reconnect.
  public func publish(_ topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) async throws(MQTTError) {
    publishes.add(1, ordering: .relaxed)
    do {
      try await send(topic, payload: payload, qos: qos, retain: retain)
    } catch {
      publishFailures.add(1, ordering: .relaxed)
      throw error
    }
  }

  /// Publishes attempted since the start, and how many of them failed (for metrics).
  public var publishCounts: (attempted: Int64, failed: Int64) {
    (publishes.load(ordering: .relaxed), publishFailures.load(ordering: .relaxed))
  }

  private func send(_ topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws(MQTTError) {
    let handle = try currentHandle()
    let result = await perform { context in
      // Paho copies topic and payload before MQTTAsync_sendMessage returns.
      payload.withUnsafeBytes { bytes in
        var message = cpaho_message()
        message.payload = UnsafeMutableRawPointer(mutating: bytes.baseAddress)
        message.payloadlen = Int32(bytes.count)
        message.qos = Int32(qos)
        message.retained = retain ? 1 : 0
        var response = cpaho_response_options()
        response.context = context
        response.onSuccess5 = pahoSuccess
        response.onFailure5 = pahoFailure
        return MQTTAsync_sendMessage(handle.raw, topic, &message, &response)
      }
    }
    try Self.check(result, operation: "publish on", topic: topic)
  }

  // MARK: Paho callbacks (called on Paho's threads)

  private func deliver(_ message: MQTTMessage) {
    let targets = state.withLock { state in
      state.subscriptions.values.filter { TopicFilter.matches($0.filter, topic: message.topic) }.map(\.continuation)
    }
    if targets.isEmpty {
      logger.debug("message on a topic nobody subscribed to", metadata: ["topic": .string(message.topic)])
    }
    for continuation in targets { continuation.yield(message) }
  }

  private func connectionLost(_ reason: String) {
    logger.warning("MQTT connection lost; reconnecting", metadata: ["reason": .string(reason)])
    eventContinuation.yield(.lost(reason: reason))
  }

  /// Paho reports every successful connection here, the first included;
  /// from the second on it is an automatic reconnect: subscribe again (a
  /// clean session lost them; a kept session makes this harmless).
  private func connectedInBackground() {
    let (isReconnect, handle, filters) = state.withLock { state in
      state.connections += 1
      return (
        state.connections > 1, state.handle, state.subscriptions.values.map { Pair(filter: $0.filter, qos: $0.qos) }
      )
    }
    guard isReconnect, let handle else { return }
    logger.info("MQTT reconnected; subscribing again", metadata: ["subscriptions": .stringConvertible(filters.count)])
    Task {
      for pair in Set(filters) {
        _ = await self.sendSubscribe(handle: handle, filter: pair.filter, qos: pair.qos)
      }
      self.eventContinuation.yield(.connected(reconnect: true))
    }
  }

  private struct Pair: Hashable {
    var filter: String
    var qos: Int
  }

  private func recordTLSError(_ text: String) {
    logger.debug("TLS error", metadata: ["detail": .string(text)])
    state.withLock { $0.lastTLSError = text.trimmingTrailingNewlines() }
  }

  // MARK: Helpers

  private func sendSubscribe(handle: Handle, filter: String, qos: Int) async -> PahoOutcome {
    await perform { context in
      var response = cpaho_response_options()
      response.context = context
      response.onSuccess5 = pahoSuccess
      response.onFailure5 = pahoFailure
      return MQTTAsync_subscribe(handle.raw, filter, Int32(qos), &response)
    }
  }

  private func currentHandle() throws(MQTTError) -> Handle {
    guard let handle = state.withLock({ $0.closed ? nil : $0.handle }) else { throw .closed }
    return handle
  }
}

extension String {
  fileprivate func trimmingTrailingNewlines() -> String {
    var s = Substring(self)
    while s.last == "\n" || s.last == "\r" { s.removeLast() }
    return String(s)
  }
}
