import AirliftCore
import Foundation

/// Dropping what is kept only for a while, in small transactions so device reports never wait long behind them.
extension ControllerStore {
  /// What one sweep of finished deployments' status reports did.
  public struct StatusSweep: Sendable, Equatable {
    /// Reports dropped.
    public var events: Int
    /// Deployments whose reports are now gone (their devices' final states stay).
    public var deployments: Int
  }

  /// Drops the status reports of deployments that are no longer live and arrived before `cutoff`, `batch` rows
  /// per transaction (`onBatch` hears each); marks those deployments. A live deployment keeps all of its reports
  /// whatever their age.
  public func pruneStatusEvents(
    before cutoff: Date, batch: Int, now: Date = Date(), onBatch: @Sendable (Int) -> Void = { _ in }
  ) async throws -> StatusSweep {
    let live = [DeploymentStatus.scheduled, .active, .paused].map(\.rawValue)
    let dropped = try await deleteInBatches(
      """
      DELETE FROM status_event WHERE id IN (
        SELECT id FROM status_event WHERE received_at < ? AND NOT EXISTS (
          SELECT 1 FROM deployment WHERE deployment.id = status_event.deployment_id AND deployment.status IN (?, ?, ?))
        ORDER BY id LIMIT ?)
      """, [cutoff, live[0], live[1], live[2], batch], batch: batch, onBatch: onBatch)
    let marked = try await db.write { db in
      try db.execute(
        sql: """
          UPDATE deployment SET events_pruned_at = ?
          WHERE events_pruned_at IS NULL AND status NOT IN (?, ?, ?) AND created_at < ?
            AND NOT EXISTS (SELECT 1 FROM status_event WHERE status_event.deployment_id = deployment.id)
          """, arguments: [now, live[0], live[1], live[2], cutoff])
    }
    return StatusSweep(events: dropped, deployments: marked)
  }

  /// Drops telemetry events older than `cutoff`, `batch` rows per transaction; returns how many.
  public func pruneDeviceEvents(before cutoff: Date, batch: Int) async throws -> Int {
    try await deleteInBatches(
      "DELETE FROM device_event WHERE id IN (SELECT id FROM device_event WHERE received_at < ? ORDER BY id LIMIT ?)",
      [cutoff, batch], batch: batch)
  }

  /// Runs `sql` (a DELETE of at most `batch` rows) in its own transaction until it deletes fewer; the total.
  private func deleteInBatches(
    _ sql: String, _ arguments: SQLArguments, batch: Int, onBatch: @Sendable (Int) -> Void = { _ in }
  ) async throws -> Int {
    var dropped = 0
    while true {
      let deleted = try await db.write { db in try db.execute(sql: sql, arguments: arguments) }
      dropped += deleted
      onBatch(deleted)
      if deleted < batch { return dropped }
      await Task.yield()
    }
  }
}
