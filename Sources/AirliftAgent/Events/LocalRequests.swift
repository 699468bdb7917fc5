import AirliftCore

/// What the agent answers local programs on its event socket: consent (`apply`, with the outcome when the program
/// applied the update itself), `fetch`, `start`, `status` and telemetry `event`s.
extension Agent {
  /// Starts the installed Compose apps again, unless an update is installing them now.
  func startApps(current: AgentStatus.Update?) async -> LocalReply {
    let installing: Set<DeviceState> = [.installing, .rebooting, .verifying]
    if let current, let state = DeviceState(rawValue: current.state), installing.contains(state) {
      return LocalReply(
        command: "start", ok: false,
        message: "deployment \(current.deployment) is \(current.state): its install starts the apps; try again after it"
      )
    }
    guard let compose = try? handlers.handler(named: HandlerName.compose) as? ComposeHandler else {
      return LocalReply(command: "start", ok: false, message: "the compose handler is not enabled on this device")
    }
    let apps = await compose.startApps(installDirectory: config.installDirectory)
    let failed = apps.filter { $0.error != nil }
    let message =
      apps.isEmpty
      ? "no apps are installed"
      : failed.isEmpty
        ? "started \(apps.map { "\($0.app)@\($0.version)" }.joined(separator: ", "))"
        : "\(failed.count) of \(apps.count) apps did not start: "
          + failed.map { "\($0.app): \($0.error ?? "")" }.joined(separator: "; ")
    var reply = LocalReply(command: "start", ok: failed.isEmpty, message: message)
    reply.apps = apps
    return reply
  }

  /// One request from the socket; `start` is the only one that waits on something (the container engine).
  static func handle(
    _ request: LocalRequest, consent: ConsentBox, send: (_ kind: String, _ data: JSONValue) throws -> Void,
    status: () throws -> AgentStatus, start: () async -> LocalReply
  ) async -> LocalReply {
    switch request.command {
    case "start": return await start()
    case "event":
      guard let kind = request.kind else {
        return LocalReply(command: "event", ok: false, message: "an event needs a kind (and data, any JSON)")
      }
      do {
        try send(kind, request.data ?? .null)
        return LocalReply(command: "event", ok: true, message: "queued \(kind) for the controller")
      } catch {
        return LocalReply(command: "event", ok: false, message: "\(error)")
      }
    case "status":
      do {
        return LocalReply(command: "status", ok: true, message: "ok", status: try status())
      } catch {
        return LocalReply(command: "status", ok: false, message: "could not read the agent's store: \(error)")
      }
    case "apply": return apply(request, consent: consent)
    case "fetch": return fetch(consent: consent, current: (try? status())?.update)
    default:
      return LocalReply(
        command: request.command, ok: false,
        message: "unknown command '\(request.command)' (known: apply, event, fetch, start, status)")
    }
  }

  private static func apply(_ request: LocalRequest, consent: ConsentBox) -> LocalReply {
    var local: ConsentBox.LocalResult?
    switch request.result {
    case nil: break
    case "ok": local = .init(ok: true, message: request.message)
    case "failed": local = .init(ok: false, message: request.message)
    case let other?:
      return LocalReply(command: "apply", ok: false, message: "result is '\(other.prefix(40))': give ok or failed")
    }
    let ready = consent.ready
    guard let deployment = consent.grant(local: local) else {
      return LocalReply(command: "apply", ok: false, message: "no downloaded update is waiting for consent")
    }
    let message =
      switch local {
      case nil: "installing deployment \(deployment)"
      case let result? where result.ok: "deployment \(deployment) applied on the device: recorded as installed"
      default: "deployment \(deployment) failed on the device: recorded, and rolled back where the handler can"
      }
    return LocalReply(command: "apply", ok: true, message: message, deployment: deployment, ready: ready)
  }

  /// The update under way stops after its download (or, when none is, the next one does) until `apply`.
  private static func fetch(consent: ConsentBox, current: AgentStatus.Update?) -> LocalReply {
    if let ready = consent.ready {
      return LocalReply(
        command: "fetch", ok: true, message: "deployment \(ready.deployment) is downloaded and waits for install",
        deployment: ready.deployment, ready: ready)
    }
    consent.holdNextDownload()
    guard let current, DeviceState(rawValue: current.state)?.isTerminal == false else {
      return LocalReply(
        command: "fetch", ok: true, message: "no update under way; the next one stops after its download")
    }
    let phase = DeviceState(rawValue: current.state)
    if phase == .pending || phase == .downloading || phase == .retrying || phase == .downloaded {
      return LocalReply(
        command: "fetch", ok: true,
        message: "deployment \(current.deployment) (\(current.release)) stops after its download",
        deployment: current.deployment)
    }
    return LocalReply(
      command: "fetch", ok: true,
      message:
        "deployment \(current.deployment) is already \(current.state); the next one stops after its download",
      deployment: nil)
  }
}
