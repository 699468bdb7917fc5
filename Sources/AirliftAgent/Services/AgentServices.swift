import AirliftCore
import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle

// The agent's services, run in one ServiceGroup by `Agent.run` in this order and shut down in the reverse one
// (docs/decisions.md lists them). Each is named, so a failure in the group's log says which one it was.

/// The Unix socket local programs follow `device:update` events on and give consent through.
struct EventSocketService: Service, CustomStringConvertible {
  let server: EventSocketServer
  let logger: Logger
  var description: String { "event socket" }

  func run() async throws {
    try await cancelWhenGracefulShutdown {
      do {
        try await server.run()
      } catch is CancellationError {
        return
      } catch {
        // The agent goes on without it: updates matter more than their watchers.
        logger.error("event socket \(server.path): \(error); local programs cannot follow updates")
      }
      try await gracefulShutdown()
    }
  }
}

/// Runs the executables of the hooks directory on every event.
struct HookService: Service, CustomStringConvertible {
  let runner: HookRunner
  var description: String { "hooks" }

  func run() async throws {
    await cancelWhenGracefulShutdown { await runner.run() }
  }
}

/// Settles what a previous run left unfinished, then works through notices and commands one at a time. When
/// it stops (its store cannot be read), the agent stops.
struct UpdateWorkerService: Service, CustomStringConvertible {
  let worker: UpdateWorker
  var description: String { "update worker" }

  func run() async throws {
    await cancelWhenGracefulShutdown { await worker.run() }
  }
}

/// The link to the controller (the broker session, or nothing to hold for a polling device).
struct ControllerLinkService: Service, CustomStringConvertible {
  let link: any ControllerLink
  var description: String { "controller link" }

  func run() async throws {
    try await cancelWhenGracefulShutdown { try await link.run() }
  }
}

/// Hands what arrives from the controller to the update worker.
struct ReceiverService: Service, CustomStringConvertible {
  let link: any ControllerLink
  let worker: UpdateWorker
  let properties: PropertyApplier
  var description: String { "receiver" }

  func run() async throws {
    await cancelWhenGracefulShutdown {
      for await message in link.messages {
        switch message {
        case .notice(let notice): worker.submit(notice)
        case .command(let command): worker.submit(command)
        case .config(let config): await properties.apply(config)
        }
      }
    }
  }
}

/// Sends the stored reports in order once the link is up, and again whenever it is woken.
struct OutboxService: Service, CustomStringConvertible {
  let outbox: Outbox
  let link: any ControllerLink
  var description: String { "outbox" }

  func run() async throws {
    await cancelWhenGracefulShutdown {
      await link.established()
      await outbox.run()
    }
  }
}

/// Each time the outbox drained after a (re)connect or an update's end: asks the controller over HTTPS which
/// reports it has, and sends again what it lacks (and the inventory).
struct ReconcilerService: Service, CustomStringConvertible {
  let agent: Agent
  let outbox: Outbox
  let http: HTTPClient
  var description: String { "reconciler" }

  func run() async throws {
    try await cancelWhenGracefulShutdown {
      for await _ in outbox.drained where agent.needsReconcile.withLock({ $0 }) {
        // Give the reports just published a moment to reach the controller first.
        try await agent.clock.sleep(for: .seconds(1))
        // Capped at 30 s and jittered: a controller that was away is asked again within that of its return, and
        // the fleet that waited for it does not come back in lockstep.
        var delays = RetryDelays(Backoff(base: 2, maximum: 30), jitter: agent.jitter)
        while await !agent.reconcile(http) {
          try await agent.clock.sleep(for: delays.afterFailure())
        }
      }
    }
  }
}

/// Presence, the device document and the desired deployment: once the link is up, after every reconnect, and
/// every check-in period (with jitter) while the schedule window is open.
struct CheckInService: Service, CustomStringConvertible {
  let agent: Agent
  let link: any ControllerLink
  let outbox: Outbox
  var description: String { "check-ins" }

  func run() async throws {
    try await cancelWhenGracefulShutdown {
      await link.established()
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask {
          for await _ in link.reconnects {
            agent.needsReconcile.withLock { $0 = true }
            outbox.wake()
            _ = await link.announce(nextCheckIn: agent.clock.date.addingTimeInterval(agent.nextCheckInDelay().seconds))
          }
        }
        group.addTask {
          var delay = agent.nextCheckInDelay()
          // The first one goes out whatever the window: the controller learns the device is there.
          if await link.announce(nextCheckIn: agent.clock.date.addingTimeInterval(delay.seconds)) { outbox.wake() }
          while !Task.isCancelled {
            try await agent.clock.sleep(for: delay)
            delay = agent.nextCheckInDelay()
            // Outside the schedule window the agent stays reachable but does not ask for work.
            if let window = agent.config.schedule, !window.contains(agent.clock.date, in: agent.config.windowTimeZone) {
              continue
            }
            if await link.announce(nextCheckIn: agent.clock.date.addingTimeInterval(delay.seconds)) { outbox.wake() }
          }
        }
      }
    }
  }
}

/// Ends the agent when an update asked for a reboot and no reboot command does it: the restart verifies it.
struct RebootWatchService: Service, CustomStringConvertible {
  let reboots: AsyncStream<Void>
  var description: String { "reboot watch" }

  func run() async throws {
    await cancelWhenGracefulShutdown {
      for await _ in reboots { return }
    }
  }
}

/// Renews the device certificate when its time comes, between updates; ends after a renewal, so the agent starts
/// its services again on the new certificate (the broker session and the HTTPS connections with it).
struct CertificateRenewalService: Service, CustomStringConvertible {
  let renewal: CertificateRenewal
  let http: HTTPClient
  /// Whether an update is under way (a renewal waits for it to end).
  let busy: @Sendable () -> Bool
  /// Called once the new certificate is in place.
  let renewed: @Sendable () -> Void
  var description: String { "certificate renewal" }

  func run() async throws {
    let retry = Duration.seconds(renewal.config.renewRetry)
    try await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        guard let due = renewal.due() else {
          renewal.logger.warning("cannot read the device certificate \(renewal.config.certificate) to renew it")
          try await Task.sleep(for: retry)
          continue
        }
        let wait = due.timeIntervalSinceNow
        if wait > 0 {
          try await Task.sleep(for: .seconds(min(wait, 3600)))
          continue
        }
        if busy() {
          try await Task.sleep(for: min(retry, .seconds(30)))
          continue
        }
        do {
          _ = try await renewal.renew(using: http)
          renewed()
          return
        } catch {
          renewal.logger.warning(
            "certificate renewal failed: \(error); the current certificate stays in use, next try in \(retry)")
          try await Task.sleep(for: retry)
        }
      }
    }
  }
}
