import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization

/// The agent without a broker (`transport: https`): it checks in over HTTPS
/// every `period` (plus up to `jitter`), at start and when an update ends;
/// each answer carries the deployment the controller chose for it, by the
/// same rules as for MQTT devices. Reports go out through the same outbox,
/// posted to the controller instead of published, kept while it is away.
extension Agent {
  func runPolling() async throws {
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: try Self.httpConfiguration(config))
    let state = PollingState()
    let outbox = Outbox(store: store, logger: logger, clock: clock, jitter: jitter) { [config] message in
      try await Self.post(message, http: http, controllerURL: config.controllerURL)
    }
    let events = EventHub()
    let (reboots, reboot) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let worker = makeWorker(http: http, outbox: outbox, events: events, reboot: reboot) {
      // An update ended: report the new inventory at once rather than a period later.
      state.soon.withLock { $0 = true }
    }
    do {
      try await cancelWhenGracefulShutdown {
        try await withThrowingTaskGroup(of: Void.self) { group in
          self.addLocalServices(
            to: &group, events: events, worker: worker, reboots: reboots, connected: { state.reachable.withLock { $0 } }
          )
          group.addTask { await outbox.run() }
          self.addReconciliation(to: &group, outbox: outbox, http: http)
          group.addTask {
            var first = true
            while !Task.isCancelled {
              let delay = self.nextCheckInDelay()
              // Outside the schedule window the agent does not ask for work (the first check-in still goes out).
              if first || self.config.schedule.map({ $0.contains(Date(), in: self.config.windowTimeZone) }) ?? true {
                let ok = await self.poll(http, worker: worker, nextCheckIn: Date().addingTimeInterval(delay.seconds))
                state.reachable.withLock { $0 = ok }
                if ok { outbox.wake() }
              }
              first = false
              let deadline = ContinuousClock.now + delay
              while ContinuousClock.now < deadline, !state.soon.withLock({ $0 }) {
                try await Task.sleep(for: min(.milliseconds(500), deadline - ContinuousClock.now))
              }
              state.soon.withLock { $0 = false }
            }
          }
          try await group.next()
          group.cancelAll()
        }
      }
    } catch is CancellationError {
    } catch {
      try? await http.shutdown()
      throw error
    }
    try? await http.shutdown()
  }

  /// One check-in: the device document out, its desired deployment back. False when the controller
  /// could not be reached (the next period tries again; reports wait in the outbox).
  private func poll(_ http: HTTPClient, worker: UpdateWorker, nextCheckIn: Date) async -> Bool {
    var request = HTTPClientRequest(url: "\(config.controllerURL)/api/v1/device/checkin")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(Wire.encode(await currentCheckIn(nextCheckIn: nextCheckIn)))
    do {
      let answer = try await exchange(http, request, as: PollAnswer.self)
      try? store.recordCheckIn()
      if let notice = answer.deployment { worker.submit(notice) }
      for command in answer.commands ?? [] { worker.submit(command) }
      return true
    } catch {
      logger.warning("could not check in over HTTPS: \(error); trying again in a period")
      try? store.recordError("could not check in: \(error)")
      return false
    }
  }

  /// Delivers one outbox message over HTTPS: status reports to the status
  /// route, command results to theirs. A refusal that cannot change (4xx)
  /// drops the message; anything else is retried.
  static func post(_ message: OutboxMessage, http: HTTPClient, controllerURL: String) async throws -> OutboxDelivery {
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
}

/// What the polling loop shares with the rest of the agent.
private final class PollingState: Sendable {
  /// Whether the last check-in reached the controller (the `connected` of `airlift-agent status`).
  let reachable = Mutex(false)
  /// Check in again now rather than a period later (an update ended).
  let soon = Mutex(false)
}
