import ArgumentParser
import Foundation

struct Device: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "See the fleet.", subcommands: [List.self])

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List devices with presence and installed versions.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let devices = try await connection.withClient { try await $0.devices() }
      if connection.json { return print(Output.json(devices)) }
      print(
        Output.table(
          ["DEVICE", "PRESENCE", "INSTALLED", "AGENT", "LAST SEEN"],
          devices.map {
            [
              $0.id, $0.online ? "online" : "offline",
              $0.installed.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: ","),
              $0.agentVersion ?? "-", Output.date($0.lastSeen),
            ]
          }))
    }
  }
}
