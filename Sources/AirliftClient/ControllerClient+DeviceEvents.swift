import AirliftCore
import Foundation

extension ControllerClient {
  /// A device's telemetry events, newest first: of one kind, since a time, at most `limit` (1-10000).
  public func deviceEvents(_ device: String, kind: String? = nil, since: Date? = nil, limit: Int = 100)
    async throws -> [API.StoredDeviceEvent]
  {
    try await get(
      "/api/v1/devices/\(Self.escape(device))/events",
      query: [
        "kind": kind, "since": since.map(Self.internetTime), "limit": "\(limit)",
      ], as: API.DeviceEventList.self
    ).events
  }

  /// RFC 3339 with milliseconds, so "since" cuts where it was asked to.
  static func internetTime(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: date)
  }
}
