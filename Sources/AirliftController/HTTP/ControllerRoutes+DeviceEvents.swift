import AirliftCore
import Foundation
import Hummingbird
import NIOCore

/// Telemetry events: a polling device sends its queued events here (an MQTT device publishes them on its `event`
/// topic); operators read them back per device.
extension ControllerRoutes {
  /// `POST /api/v1/device/events` (a device certificate): `{"events": [...]}`, at most 500, every one checked
  /// before any is stored.
  @Sendable func ownDeviceEvents(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    let body = try await request.body.collect(upTo: Wire.maxPayload)
    do {
      let batch = try Wire.decode(DeviceEventBatch.self, from: Array(buffer: body), topic: "POST /api/v1/device/events")
      try Limits.check("events in one batch", batch.events.count, in: 1...DeviceEvent.maxBatch)
      for event in batch.events {
        try event.validate()
        guard event.device == device else {
          throw APIError(
            status: .forbidden, code: "forbidden",
            message: "an event names '\(event.device)' but the certificate is \(device)'s: a device sends only its own")
        }
      }
      try await store.recordDeviceEvents(batch.events, from: device, retention: eventRetention)
      metrics.deviceEventsStored(batch.events.count)
    } catch {
      metrics.deviceEventsRefused(1)
      throw error
    }
    return Response(status: .noContent)
  }

  /// `GET /api/v1/devices/{id}/events?kind=K&since=ISO8601&limit=N`: newest first, 100 unless `limit` (1-10000).
  @Sendable func deviceEvents(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let id = try DeviceID(try context.pathParameter("id"))
    let query = request.formQuery
    var limit = 100
    if let text = query.get("limit") {
      guard let value = Int(text), (1...10_000).contains(value) else {
        throw AirliftCoreError.outOfRange(field: "limit", value: "'\(text.prefix(64))'", allowed: "1 to 10000 events")
      }
      limit = value
    }
    let kind = query.get("kind")
    if let kind { try DeviceEvent.validateKind(kind) }
    var since: Date?
    if let text = query.get("since") {
      guard let date = InternetTime.parse(text) else {
        throw AirliftCoreError.invalidField(
          field: "since", reason: "'\(text.prefix(64))' is not an ISO 8601 time such as 2026-12-07T10:00:00Z")
      }
      since = date
    }
    let events = try await store.deviceEvents(id, kind: kind, since: since, limit: limit)
    return try Self.json(API.DeviceEventList(events: events), context: context)
  }
}
