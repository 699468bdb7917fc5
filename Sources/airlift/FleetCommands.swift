import AirliftCore
import ArgumentParser
import Foundation

struct Fleet: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The emergency stop: freeze every deployment at once, thaw them again.",
    subcommands: [Status.self, Freeze.self, Thaw.self])

  static func render(_ state: API.FleetState) -> String {
    guard state.frozen else { return "fleet: running" }
    return "fleet: FROZEN since \(state.since.map(Output.date) ?? "?") — \(state.reason ?? "")"
  }

  struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Whether the fleet is frozen, and why.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let state = try await connection.withClient { try await $0.fleet() }
      print(connection.json ? Output.json(state) : Fleet.render(state))
    }
  }

  struct Freeze: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Pause every active deployment now; nothing new or scheduled starts until thaw.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Why, shown on every paused deployment.") var reason: String?

    func run() async throws {
      let state = try await connection.withClient { try await $0.changeFleet("freeze", reason: reason) }
      print(connection.json ? Output.json(state) : Fleet.render(state))
    }
  }

  struct Thaw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Lift the freeze: the deployments it paused run again.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let state = try await connection.withClient { try await $0.changeFleet("thaw") }
      print(connection.json ? Output.json(state) : Fleet.render(state))
    }
  }
}
