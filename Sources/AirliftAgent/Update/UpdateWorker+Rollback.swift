import AirliftCore
import Foundation

/// The operator's `airlift device rollback`: no deployment, the handler
/// switches the package back to its version before, and the update that had
/// installed the current one is reported `RolledBack`.
extension UpdateWorker {
  /// The operator's rollback: the handler switches back, then the update
  /// that had installed the current version is reported `RolledBack`.
  func rollBack(_ command: DeviceCommand) async {
    let topic = Topics.device(deviceID, .status)
    // Delivered again (QoS 1, or a polling device's next check-in before the answer arrived): answer again, once.
    if let done = try? store.handledCommand(command.id) {
      logger.info("command \(command.id) was carried out already; answering again")
      answer(command, ok: done.ok, message: done.message)
      return
    }
    do {
      guard let installed = try store.installedPackage(command.package),
        let record = try store.lastSuccessfulUpdate(of: command.package)
      else {
        throw AgentError.nothingToRollBack(package: command.package, reason: "it was never installed by an update")
      }
      guard let previous = installed.previousVersion else {
        throw AgentError.nothingToRollBack(
          package: command.package, reason: "\(installed.version) is the only version it has had")
      }
      let handler = try handlers.handler(named: record.notice.handler)
      let outcome = try await handler.rollBackToPrevious(
        package: command.package, installDirectory: config.installDirectory)
      let report = StatusReport(
        deployment: record.notice.deployment, state: .rolledBack, stage: "rolled back on request to \(previous)",
        error: command.reason.map { "operator rollback: \($0)" } ?? "operator rollback")
      try store.recordRollback(record, to: previous, report: report, topic: topic)
      outbox.wake()
      events.publish(DeviceUpdateEvent(notice: record.notice, report: report))
      answer(command, ok: true, message: "rolled \(command.package) back from \(installed.version) to \(previous)")
      logger.notice("rolled \(command.package) back from \(installed.version) to \(previous)")
      await onChange()
      if outcome == .undoneNeedsReboot {
        await beforeReboot()
        rebootRequested = true
        try await handler.reboot()
        onReboot()
      }
    } catch {
      logger.error("rollback of \(command.package) refused: \(error)")
      answer(command, ok: false, message: "\(error)")
    }
  }

  /// Queues the answer to an operator command.
  private func answer(_ command: DeviceCommand, ok: Bool, message: String) {
    let result = CommandResult(command: command.id, ok: ok, message: message)
    do {
      try store.answerCommand(result, topic: Topics.device(deviceID, .commandResult))
    } catch {
      logger.error("could not store the answer to command \(command.id): \(error)")
    }
    outbox.wake()
  }
}
