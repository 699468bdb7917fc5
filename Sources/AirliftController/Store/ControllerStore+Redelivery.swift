import AirliftCore
import Foundation

extension ControllerStore {
  /// A device whose notice is due again.
  public struct UnansweredNotice: Sendable, Equatable {
    public var deployment: String
    public var device: DeviceID
    /// Whether it is an MQTT device (its notice is published again); a polling one gets it at its next check-in.
    public var publish: Bool
  }

  /// Devices released into an active deployment that have reported nothing for it (this round) since
  /// `redelivery.first` or since their last new try: each becomes `Retrying`, with why, the count of tries and
  /// the time of the next one. Returns them; the caller publishes the MQTT devices' notices again. A polling
  /// device that keeps its check-ins is left `Pending` (in the query, so the scheduler's tick never reads it):
  /// its next check-in hands it the notice.
  public func redeliverUnanswered(_ redelivery: Redelivery, now: Date = Date()) async throws -> [UnansweredNotice] {
    try await db.write { db in
      guard try !Self.fleetState(db).frozen else { return [] }
      let rows = try SQLRow.fetchAll(
        db,
        sql: """
          SELECT device_deployment.deployment_id, device_deployment.device_id, device_deployment.delivery_attempts,
            device.online, device.transport FROM device_deployment
          JOIN deployment ON deployment.id = device_deployment.deployment_id
          LEFT JOIN device ON device.id = device_deployment.device_id
          WHERE deployment.status = ? AND device_deployment.started_at IS NULL
            AND device_deployment.released_at IS NOT NULL AND device_deployment.state IN (?, ?)
            AND ((device_deployment.next_delivery_at IS NULL AND device_deployment.released_at <= ?)
              OR device_deployment.next_delivery_at <= ?)
            AND NOT (COALESCE(device.transport, '') = ? AND COALESCE(device.online, 0) = 1)
          """,
        arguments: [
          DeploymentStatus.active.rawValue, DeviceState.pending.rawValue, DeviceState.retrying.rawValue,
          now.addingTimeInterval(-redelivery.first), now, DeviceTransport.https.rawValue,
        ])
      var due: [UnansweredNotice] = []
      for row in rows {
        let deployment: String = row["deployment_id"]
        let device: String = row["device_id"]
        let attempt = (row["delivery_attempts"] as Int) + 1
        let polling = (row["transport"] as String?) == DeviceTransport.https.rawValue
        let online: Bool? = row["online"]
        let next = now.addingTimeInterval(redelivery.delay(after: attempt))
        let why =
          switch (online, polling) {
          case (nil, _): "not reached: the device has never checked in"
          case (false?, true): "not reached: the polling device missed its check-in"
          case (false?, false): "not reached: the device is offline"
          case (true?, _): "no answer to the notice yet (the device is online)"
          }
        let note = "\(why); try \(attempt + 1), next at \(next.formatted(.iso8601))"
        let changed = try db.execute(
          sql: """
            UPDATE device_deployment SET state = ?, error = ?, updated_at = ?, delivery_attempts = ?,
              next_delivery_at = ?
            WHERE deployment_id = ? AND device_id = ? AND started_at IS NULL
            """, arguments: [DeviceState.retrying.rawValue, note, now, attempt, next, deployment, device])
        guard changed > 0 else { continue }
        try Self.insertEvent(db, deployment: deployment, device: device, state: .retrying, error: note, now: now)
        if let id = try? DeviceID(device) { due.append(.init(deployment: deployment, device: id, publish: !polling)) }
      }
      return due
    }
  }
}
