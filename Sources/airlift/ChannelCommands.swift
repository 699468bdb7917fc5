import AirliftCore
import ArgumentParser
import Foundation

struct Channel: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Update channels: devices that follow a floating tag get every version it moves to.",
    discussion: """
      A device follows a channel with the agent config key "channels": {"gw-fw": "stable"}. Moving the tag \
      (`airlift tag set gw-fw stable 2.1.0`) deploys the new version to its followers with the channel's rollout plan.
      """,
    subcommands: [List.self, Set.self])

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Channels with their followers and rollout plans.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let channels = try await connection.withClient { try await $0.channels() }
      if connection.json { return print(Output.json(channels)) }
      print(
        Output.table(
          ["CHANNEL", "FOLLOWERS", "ROLLOUT"],
          channels.map {
            [
              "\($0.package):\($0.tag)", "\($0.followers.count)",
              $0.rollout.map { $0.phases.map(\.description).joined(separator: ",") } ?? "all at once",
            ]
          }))
    }
  }

  struct Set: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Set the rollout plan a channel's new versions reach its followers with.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "PACKAGE:TAG") var channel: String
    @OptionGroup var rolloutOptions: RolloutOptions

    func parsed() throws -> (String, String) {
      let parts = channel.split(separator: ":", maxSplits: 1).map(String.init)
      guard parts.count == 2 else { throw ValidationError("give the channel as PACKAGE:TAG, got '\(channel)'") }
      return (parts[0], parts[1])
    }

    func validate() throws {
      _ = try parsed()
      _ = try rolloutOptions.plan()
    }

    func run() async throws {
      let (package, tag) = try parsed()
      let plan = try rolloutOptions.plan()
      let result = try await connection.withClient {
        try await $0.setChannel(package: package, tag: tag, rollout: plan)
      }
      if connection.json { return print(Output.json(result)) }
      print(
        "channel \(package):\(tag): "
          + (result.rollout.map { "phases " + $0.phases.map(\.description).joined(separator: ",") } ?? "all at once")
          + ", \(result.followers.count) follower(s)")
    }
  }
}
