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

  /// The programs scripts/programs lists (scripts/setup installs each).
  static func listedPrograms() throws -> Set<String> {
    let text = try String(contentsOfFile: "\(Fleet.repository)/scripts/programs", encoding: .utf8)
    return Set(
      text.split(separator: "\n").compactMap { line in
        line.hasPrefix("#") ? nil : line.split(separator: " ").first.map(String.init)
      })
  }

  /// The programs the test sources start: the first word after `/usr/bin/env` and its options, and
  /// `/usr/bin/NAME` / `/usr/sbin/NAME` paths.
  static func startedPrograms(in source: String) -> Set<String> {
    var found = Set<String>()
    var rest = source[...]
    while let env = rest.range(of: "\"/usr/bin/env\"") {
      var scan = rest[env.upperBound...].prefix(400)
      while let open = scan.firstIndex(of: "\"") {
        let after = scan[scan.index(after: open)...]
        guard let close = after.firstIndex(of: "\"") else { break }
        let word = String(after[..<close])
        scan = after[after.index(after: close)...]
        if word.hasPrefix("-") || word.contains("=") || word.contains("\\(") { continue }
        found.insert(word)
        break
      }
      rest = rest[env.upperBound...]
    }
    for prefix in ["\"/usr/bin/", "\"/usr/sbin/"] {
      var rest = source[...]
      while let start = rest.range(of: prefix) {
        let name = rest[start.upperBound...].prefix { $0.isLetter || $0.isNumber || "._-".contains($0) }
        if !name.isEmpty && name != "env" { found.insert(String(name)) }
        rest = rest[start.upperBound...]
      }
    }
    return found
  }

  @Test("every program a test starts is in scripts/programs, the one list scripts/setup installs from")
  func programsAreListed() throws {
    let listed = try Self.listedPrograms()
    #expect(listed.isSuperset(of: ["mosquitto", "nginx", "docker-registry", "dockerd", "initdb", "jq"]))
    let root = "\(Fleet.repository)/Tests"
    var started = Set<String>()
    let files = FileManager.default.enumerator(atPath: root)
    while let file = files?.nextObject() as? String {
      guard file.hasSuffix(".swift") else { continue }
      started.formUnion(Self.startedPrograms(in: try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)))
    }
    #expect(started.isSuperset(of: ["tar", "openssl", "docker-registry", "dockerd", "nginx"]), "\(started.sorted())")
    // Airlift's own binaries are built, not installed.
    let unlisted = started.subtracting(listed).subtracting(["airlift", "airlift-agent", "airlift-sim"])
    #expect(
      unlisted.isEmpty,
      "started by tests but not in scripts/programs (so scripts/setup never installs them): \(unlisted.sorted())")
  }

  /// The `airlift` and `airlift-agent` command lines in the README's code blocks, as word lists (continued
  /// lines joined, comments and environment prefixes dropped); lines of the example scripts (with `$`) and
  /// elided ones (`...`) are left out: the release pipeline's test runs that script whole.
  static func documentedCommands() throws -> [[String]] {
    let text = try String(contentsOfFile: "\(Fleet.repository)/README.md", encoding: .utf8)
    var commands: [[String]] = []
    var inBlock = false
    var pending = ""
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let line = String(raw)
      if line.hasPrefix("```") {
        inBlock.toggle()
        pending = ""
        continue
      }
      guard inBlock else { continue }
      if line.hasSuffix("\\") {
        pending += line.dropLast() + " "
        continue
      }
      let full = pending + line
      pending = ""
      guard var words = shellWords(full) else { continue }
      while let first = words.first, first.contains("="), !first.hasPrefix("-") { words.removeFirst() }
      guard let program = words.first, program == "airlift" || program == "airlift-agent" else { continue }
      if words.contains(where: { $0.contains("$") || $0 == "..." || $0.contains("…") || $0 == "|" }) { continue }
      commands.append(words)
    }
    return commands
  }

  /// Splits a shell line into words (quotes honoured, `#` starts a comment); nil for what is not a plain command.
  static func shellWords(_ line: String) -> [String]? {
    var words: [String] = []
    var word = ""
    var quote: Character?
    var inWord = false
    for character in line {
      if let open = quote {
        if character == open { quote = nil } else { word.append(character) }
        continue
      }
      switch character {
      case "'", "\"":
        quote = character
        inWord = true
      case " ", "\t":
        if inWord { words.append(word) }
        word = ""
        inWord = false
      case "#" where !inWord:
        if quote == nil { return words }
      case "<", ">", "(", ")", ";", "&":
        return nil
      default:
        word.append(character)
        inWord = true
      }
    }
    if quote != nil { return nil }
    if inWord { words.append(word) }
    return words
  }

  @Test("every airlift and airlift-agent command the README shows parses and validates with the real binary")
  func readmeCommandsParse() async throws {
    let commands = try Self.documentedCommands()
    #expect(commands.count > 60, "\(commands.count) commands found")
    // The files the examples name exist (as small JSON documents) in the folder they run in.
    let folder = NSTemporaryDirectory() + "airlift-readme-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    for words in commands {
      for word in words {
        guard let name = word.split(separator: "=").last.map(String.init), !name.contains("/"), !name.hasPrefix("-"),
          [".json", ".gz", ".conf", ".tar"].contains(where: { name.hasSuffix($0) })
        else { continue }
        try "{}".write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8)
      }
      let (status, output) = try await Fleet.execute(
        "/usr/bin/env", ["-C", folder, "AIRLIFT_PARSE_ONLY=1", try Fleet.builtBinary(words[0])] + words.dropFirst())
      #expect(status == 0, "README: \(words.joined(separator: " ")): \(output.prefix(300))")
    }
  }
}
