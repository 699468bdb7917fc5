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

  /// The deployment's (first) device once it ended `expected`, or ended another way that is final: a device
  /// that rolls back reports `Failed` while it does, then `RolledBack`, so `Failed` is waited past unless it is
  /// what is expected.
  func ended(_ deployment: String, as expected: DeviceState) async throws -> API.DeviceProgress {
    var device: API.DeviceProgress?
    try await eventually("the device of \(deployment) to end \(expected.rawValue)") {
      device = try await self.deployment(deployment).devices.first
      guard let state = device?.state, state.isTerminal else { return false }
      return state == expected || state != .failed
    }
    return device!
  }
}
