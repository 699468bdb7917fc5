import Logging
import ServiceLifecycle

/// Drops telemetry events older than the retention allows: at start, then once an hour. (The per-device count
/// is kept as events arrive.)
struct DeviceEventPruner: Service {
  let store: ControllerStore
  let retention: EventRetention
  let logger: Logger
  var interval: Duration = .seconds(3600)

  func run() async throws {
    try await endingQuietlyOnShutdown {
      try await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
          do {
            let dropped = try await store.pruneDeviceEvents(retention: retention)
            if dropped > 0 { logger.info("dropped \(dropped) device event(s) older than \(retention.maxAgeDays) days") }
          } catch {
            logger.error("could not drop old device events: \(error)")
          }
          try await Task.sleep(for: interval)
        }
      }
    }
  }
}
