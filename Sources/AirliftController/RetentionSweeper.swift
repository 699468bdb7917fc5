import AirliftCore
import Foundation
import Logging
import ServiceLifecycle

/// Drops what is kept only for a while: at start, then every `statusRetention.every` seconds, finished
/// deployments' status reports older than `statusRetention.days` and telemetry events older than
/// `eventRetention.maxAgeDays` (the per-device count of events is kept as they arrive), and blobs no release
/// holds that were uploaded over a day ago (an upload whose release is not made yet is younger).
struct RetentionSweeper: Service {
  let store: ControllerStore
  let events: EventRetention
  let status: StatusRetention
  let metrics: ControllerMetrics
  let blobs: BlobStore
  let logger: Logger

  func run() async throws {
    try await endingQuietlyOnShutdown {
      try await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
          await sweep(now: Date())
          try await Task.sleep(for: .seconds(status.every))
        }
      }
    }
  }

  func sweep(now: Date) async {
    do {
      let started = ContinuousClock.now
      let metrics = metrics
      let sweep = try await store.pruneStatusEvents(
        before: now.addingTimeInterval(-Double(status.days) * 86_400), batch: status.batch, now: now
      ) { metrics.statusEventsPruned($0) }
      if sweep.events > 0 || sweep.deployments > 0 {
        logger.info(
          "dropped \(sweep.events) status report(s) older than \(status.days) days in \(ContinuousClock.now - started); \(sweep.deployments) finished deployment(s) keep only their devices' final states"
        )
      }
    } catch {
      logger.error("could not drop old status reports: \(error)")
    }
    do {
      let unheld = try await store.collectBlobs(before: now.addingTimeInterval(-86_400))
      await store.removeUnlistedFiles(unheld.map(\.sha256), from: blobs, logger: logger)
      if !unheld.isEmpty {
        logger.info(
          "removed \(unheld.count) blob(s) no release holds, \(ByteCount.text(unheld.reduce(0) { $0 + $1.size }))")
      }
    } catch {
      logger.error("could not collect unused blobs: \(error)")
    }
    do {
      let dropped = try await store.pruneDeviceEvents(retention: events, now: now)
      if dropped > 0 { logger.info("dropped \(dropped) device event(s) older than \(events.maxAgeDays) days") }
    } catch {
      logger.error("could not drop old device events: \(error)")
    }
  }
}
