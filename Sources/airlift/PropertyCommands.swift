import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

/// `KEY=VALUE` to set and `KEY` to unset, checked before anything is sent.
struct PropertyArguments: ParsableArguments {
  @Argument(help: "KEY=VALUE to set (a bare KEY with --unset).") var pairs: [String] = []
  @Option(name: .customLong("unset"), help: "A key to remove (repeatable).") var unset: [String] = []

  func change() throws -> API.SetProperties {
    let change = API.SetProperties(set: try KeyValues.parse(pairs), unset: unset)
    guard !change.set.isEmpty || !change.unset.isEmpty else {
      throw ValidationError("give KEY=VALUE to set, or --unset KEY")
    }
    do { try change.validate() } catch { throw ValidationError(error.description) }
    return change
  }
}

extension Device {
  struct SetProperties: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "set",
      abstract: "Set (or --unset) a device's properties; its agent writes them to its properties file.",
      discussion: "Properties are configuration, not secrets: every program on the device can read them.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device id.") var id: String
    @OptionGroup var properties: PropertyArguments

    func validate() throws { _ = try properties.change() }

    func run() async throws {
      let result = try await connection.withClient { try await $0.setProperties(device: id, try properties.change()) }
      if connection.json { return print(Output.json(result)) }
      print("device \(id): \(result.desired.count) properties, version \(result.version)")
      print(Self.render(result))
    }

    /// Desired vs reported, and where each value comes from.
    static func render(_ properties: API.DeviceProperties) -> String {
      let state =
        properties.inSync
        ? "applied (version \(properties.version))"
        : "DRIFT: the device applied \(properties.reported ?? "none") of \(properties.version)"
      var rows: [[String]] = []
      for (key, value) in properties.desired.sorted(by: { $0.key < $1.key }) {
        let source =
          properties.own[key] != nil
          ? "device" : properties.groups.keys.sorted().last { properties.groups[$0]?[key] != nil }.map { "group \($0)" }
        rows.append([key, value, source ?? ""])
      }
      return "properties: \(state)" + (rows.isEmpty ? "" : "\n" + Output.table(["KEY", "VALUE", "FROM"], rows))
    }
  }
}

extension Group {
  struct SetProperties: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "set", abstract: "Set (or --unset) a group's properties; every member gets them.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Group name.") var name: String
    @OptionGroup var properties: PropertyArguments

    func validate() throws { _ = try properties.change() }

    func run() async throws {
      let result = try await connection.withClient { try await $0.setProperties(group: name, try properties.change()) }
      if connection.json { return print(Output.json(result)) }
      print("group \(name): \(result.properties.count) properties")
      for (key, value) in result.properties.sorted(by: { $0.key < $1.key }) { print("  \(key) = \(value)") }
    }
  }
}
