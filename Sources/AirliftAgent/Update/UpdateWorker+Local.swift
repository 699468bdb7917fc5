import AirliftCore

/// A downloaded update a program on the device applied itself (Ioto's local-apply path): the `ready` event gave
/// it the verified files; `airlift-agent apply --result ok|failed` tells the agent how it went, and the agent
/// reports and records that instead of running its handler.
extension UpdateWorker {
  static func appliedLocally(_ result: ConsentBox.LocalResult) -> UpdateEvent {
    if result.ok { return .installSucceeded(needsReboot: false) }
    return .installFailed(
      reason: "applied on the device by a local program, which reported a failure: "
        + (result.message.map { String($0.prefix(1000)) } ?? "no reason given"))
  }
}
