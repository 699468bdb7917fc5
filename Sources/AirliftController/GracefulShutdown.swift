import ServiceLifecycle

/// Runs a service's work; the cancellation a graceful shutdown (SIGTERM) causes ends it normally, so
/// `airlift serve` exits 0 when asked to stop, and a service manager does not record a failure.
func endingQuietlyOnShutdown(_ work: () async throws -> Void) async throws {
  do {
    try await work()
  } catch is CancellationError {
    guard await Task.isShuttingDownGracefully else { throw CancellationError() }
  }
}
