import AirliftCore
import Foundation
import Logging
import Subprocess
import SystemPackage

/// Runs each executable in the hooks folder for every `device:update`
/// event, with the event as JSON on stdin and a time limit. A failing or
/// slow hook is logged, never fatal, and never holds up the update.
struct HookRunner: Sendable {
  let directory: String
  let timeout: Double
  let hub: EventHub
  let logger: Logger

  func run() async {
    for await event in hub.subscribe() {
      for hook in hooks() { await runHook(hook, event: event) }
    }
  }

  private func hooks() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.sorted().map { "\(directory)/\($0)" }.filter { FileManager.default.isExecutableFile(atPath: $0) }
  }

  private func runHook(_ path: String, event: AgentEvent) async {
    // The event goes in through a file, not a pipe: a hook that exits
    // without reading stdin must not matter.
    let input = NSTemporaryDirectory() + "airlift-event-\(UUID().uuidString).json"
    defer { try? FileManager.default.removeItem(atPath: input) }
    do {
      try Data(Wire.encode(event) + [UInt8(ascii: "\n")]).write(to: URL(fileURLWithPath: input))
      let stdin = try FileDescriptor.open(FilePath(input), .readOnly)
      // Its own session, so a stop reaches whatever the hook started too.
      var options = PlatformOptions()
      options.createSession = true
      options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
      let outcome = try await withThrowingTaskGroup(of: TerminationStatus?.self) { group in
        group.addTask { [options] in
          try await Subprocess.run(
            .path(FilePath(path)), platformOptions: options,
            input: .fileDescriptor(stdin, closeAfterSpawningProcess: true),
            output: .discarded, error: .discarded
          ).terminationStatus
        }
        group.addTask {
          try await Task.sleep(for: .seconds(timeout))
          return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
      }
      switch outcome {
      case .exited(0)?: return
      case let status?: logger.warning("hook \(path) failed (\(status)) for \(event.summary)")
      case nil: logger.warning("hook \(path) took longer than \(timeout) s; stopped")
      }
    } catch {
      logger.warning("hook \(path) could not run: \(error)")
    }
  }
}
