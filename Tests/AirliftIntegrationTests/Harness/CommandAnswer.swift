import AirliftClient
import AirliftCore

extension ControllerClient {
  /// `command` once its device answered it (it is `sent` until then).
  func answer(to command: API.DeviceCommand) async throws -> API.DeviceCommand {
    var command = command
    try await eventually("the device's answer to \(command.id)") {
      command = try await self.command(device: command.device, id: command.id)
      return command.status != .sent
    }
    return command
  }
}
