import Foundation
import Testing

/// Every command of the three binaries, run as a user would: each
/// subcommand's `--help` works (the options parse: no two of them share a
/// name), and a mistake on the command line is a usage error, not a crash.
@Suite("The command lines, through the real binaries")
struct CommandLineTests {
  struct Command: Decodable {
    var commandName: String
    var subcommands: [Command]?
  }

  struct Dump: Decodable {
    var command: Command
  }

  /// Every subcommand path of `binary` (`["deploy", "create"]` …), from its own help dump.
  static func paths(of binary: String) async throws -> [[String]] {
    let (status, output) = try await Fleet.execute(try Fleet.builtBinary(binary), ["--experimental-dump-help"])
    #expect(status == 0, "\(output.prefix(500))")
    let dump = try JSONDecoder().decode(Dump.self, from: Data(output.utf8))
    func walk(_ command: Command, _ prefix: [String]) -> [[String]] {
      let children = (command.subcommands ?? []).filter { $0.commandName != "help" }
      return [prefix] + children.flatMap { walk($0, prefix + [$0.commandName]) }
    }
    return walk(dump.command, [])
  }

  @Test(
    "every subcommand of airlift, airlift-agent and airlift-sim answers --help",
    arguments: [
      "airlift", "airlift-agent", "airlift-sim",
    ])
  func everyHelp(binary: String) async throws {
    let paths = try await Self.paths(of: binary)
    #expect(paths.count >= (binary == "airlift" ? 40 : 5), "\(paths.count) commands")
    for path in paths {
      let (status, output) = try await Fleet.execute(try Fleet.builtBinary(binary), path + ["--help"])
      #expect(
        status == 0 && output.contains("USAGE:"),
        "\(binary) \(path.joined(separator: " ")) --help: \(output.prefix(400))")
    }
  }
}
