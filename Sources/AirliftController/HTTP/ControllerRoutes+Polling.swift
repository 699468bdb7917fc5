import AirliftCore
import Foundation
import Hummingbird

/// Devices that poll over HTTPS (`transport: https` in the agent config):
/// the check-in that MQTT devices publish, answered with the deployment the
/// device should run, and command results. Status reports use
/// `POST /api/v1/device/status`, as MQTT devices' catch-up does.
extension ControllerRoutes {
  /// `POST /api/v1/device/checkin` (a device certificate): the device
  /// document in, its desired deployment (or none) out.
  @Sendable func pollingCheckIn(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    let topic = "POST /api/v1/device/checkin"
    let body = try await request.body.collect(upTo: Wire.maxPayload)
    let checkIn = try Wire.decode(CheckIn.self, from: Array(buffer: body), topic: topic)
    try checkIn.validate()
    guard checkIn.device == device else {
      throw APIError(
        status: .forbidden, code: "forbidden",
        message: "the check-in names '\(checkIn.device)' but the certificate is \(device)'s")
    }
    if try await store.recordCheckIn(checkIn) {
      context.logger.info("new device checked in", metadata: ["device": .string(device.rawValue)])
    }
    // The same rules as for MQTT devices: open deployments, channels, distribution policies.
    await deployments.deviceMayJoin(device)
    let notice = try await deployments.notice(for: device)
    // An MQTT device sends its check-in here too (to reconcile its inventory): its notices go by MQTT.
    if let notice, checkIn.transport == .https { try await store.markDelivered(notice.deployment, to: device) }
    let commands = try await store.pendingCommands(for: device)
    // Properties go by MQTT to an MQTT device; a polling device gets them here while it has not applied them.
    let config = checkIn.transport == .https ? try await deployments.configForCheckIn(device) : nil
    return Response(
      status: .ok, headers: [.contentType: "application/json"],
      body: .init(
        byteBuffer: ByteBuffer(
          bytes: Wire.encode(
            PollAnswer(deployment: notice, commands: commands.isEmpty ? nil : commands, config: config)))))
  }

  /// `GET /api/v1/device/updates` (a device certificate): what the device could run, and why each is offered.
  @Sendable func ownAvailableUpdates(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    return Response(
      status: .ok, headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: Wire.encode(try await store.availableUpdates(for: device)))))
  }

  /// `POST /api/v1/device/command-result` (a device certificate): what a polling device answered to a command.
  @Sendable func pollingCommandResult(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    let body = try await request.body.collect(upTo: Wire.maxPayload)
    let result = try Wire.decode(
      CommandResult.self, from: Array(buffer: body), topic: "POST /api/v1/device/command-result")
    try await store.recordCommandResult(result, from: device)
    return Response(status: .noContent)
  }
}
