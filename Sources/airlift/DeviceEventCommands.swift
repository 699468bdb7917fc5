import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

extension Device {
  struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "A device's telemetry events (from `airlift-agent event send`), newest first.",
      discussion: "Example: airlift device events gw-0042 --kind temperature --since 1h")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device id.") var id: String
    @Option(help: "Only events of this kind.") var kind: String?
    @Option(help: "Only events from this long ago on (30min, 1h, 2days) or since an ISO 8601 time.")
    var since: String?
    @Option(help: "At most this many (1-10000).") var limit = 100

    func validate() throws {
      if let kind {
        do { try DeviceEvent.validateKind(kind) } catch { throw ValidationError("\(error)") }
      }
      _ = try sinceDate(now: Date())
      guard (1...10_000).contains(limit) else { throw ValidationError("--limit is \(limit): give 1 to 10000") }
    }

    func sinceDate(now: Date) throws -> Date? {
      guard let since else { return nil }
      if let date = InternetTime.parse(since) { return date }
      do {
        return now.addingTimeInterval(-Double(try Period(since).seconds))
      } catch {
        throw ValidationError("--since '\(since)': give a time ago (30min, 1h, 2days) or an ISO 8601 time; \(error)")
      }
    }

    func run() async throws {
      let after = try sinceDate(now: Date())
      let events = try await connection.withClient {
        try await $0.deviceEvents(id, kind: kind, since: after, limit: limit)
      }
      if connection.json { return print(Output.json(events)) }
      if events.isEmpty { return print("no events from \(id)" + (kind.map { " of kind \($0)" } ?? "")) }
      print(Output.table(["TIME", "KIND", "DATA"], events.map { [Output.date($0.time), $0.kind, $0.data.text] }))
    }
  }
}
