import AirliftCore
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A device that polls instead of holding a broker connection (`transport: https`): each check-in POSTs the
/// device document, and the answer carries the deployment the controller chose for it (by the same rules as for
/// MQTT devices) and any unanswered commands. Reports are posted, kept in the outbox while the controller is away.
final class HTTPSLink: ControllerLink {
  private let agent: Agent
  private let http: HTTPClient
  let messages: AsyncStream<ControllerMessage>
  private let received: AsyncStream<ControllerMessage>.Continuation
  /// A polling device has no session to lose: nothing is ever yielded here.
  let reconnects: AsyncStream<Void>
  private let reachable = Mutex(false)

  init(agent: Agent, http: HTTPClient) {
    self.agent = agent
    self.http = http
    (messages, received) = AsyncStream.makeStream()
    reconnects = AsyncStream { _ in }
  }

  var isConnected: Bool { reachable.withLock { $0 } }
  var outboxMaxRetryDelay: Double { 30 }

  /// Nothing to hold between check-ins: waits for the agent to stop.
  func run() async throws {
    try? await gracefulShutdown()
  }

  func established() async {}

  /// One check-in: the device document out (with the promised next one), its desired deployment and commands
  /// back. False when the controller could not be reached (the next period tries again; reports wait).
  func announce(nextCheckIn: Date) async -> Bool {
    var request = HTTPClientRequest(url: "\(agent.config.controllerURL)/api/v1/device/checkin")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(Wire.encode(await agent.currentCheckIn(nextCheckIn: nextCheckIn)))
    let ok: Bool
    do {
      let answer = try await agent.exchange(http, request, as: PollAnswer.self)
      try? agent.store.recordCheckIn()
      if let notice = answer.deployment { received.yield(.notice(notice)) }
      for command in answer.commands ?? [] { received.yield(.command(command)) }
      if let config = answer.config { received.yield(.config(config)) }
      ok = true
    } catch {
      agent.logger.warning("could not check in over HTTPS: \(error); trying again in a period")
      try? agent.store.recordError("could not check in: \(error)")
      ok = false
    }
    reachable.withLock { $0 = ok }
    return ok
  }

  /// After an update: a check-in at once rather than a period later.
  func sendInventory() async {
    _ = await announce(nextCheckIn: agent.clock.date.addingTimeInterval(agent.nextCheckInDelay().seconds))
  }

  /// Status reports to the status route, command results and telemetry events to theirs. A refusal that cannot change (4xx) drops
  /// the message; anything else is retried.
  func deliver(_ message: OutboxMessage) async throws -> OutboxDelivery {
    let controllerURL = agent.config.controllerURL
    let (_, channel) = try Topics.parseDeviceTopic(message.topic)
    var request: HTTPClientRequest
    switch channel {
    case .status:
      let report = try Wire.decode(StatusReport.self, from: message.payload, topic: message.topic)
      request = HTTPClientRequest(url: "\(controllerURL)/api/v1/device/status")
      request.body = .bytes(Wire.encode(StatusBatch(reports: [report])))
    case .commandResult:
      request = HTTPClientRequest(url: "\(controllerURL)/api/v1/device/command-result")
      request.body = .bytes(message.payload)
    case .event:
      let event = try Wire.decode(DeviceEvent.self, from: message.payload, topic: message.topic)
      request = HTTPClientRequest(url: "\(controllerURL)/api/v1/device/events")
      request.body = .bytes(Wire.encode(DeviceEventBatch(events: [event])))
    default:
      return .refused("\(message.topic) has no HTTPS route; a polling device does not send it")
    }
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    let response = try await http.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 1 << 20)
    switch response.status.code {
    case 200..<300:
      return .delivered
    case 400..<500 where response.status.code != 408 && response.status.code != 429:
      return .refused("the controller refused it: HTTP \(response.status.code) \(String(buffer: body).prefix(200))")
    default:
      throw AgentError.controller(reason: "POST \(request.url): HTTP \(response.status.code)")
    }
  }

  func close() async {}
}
