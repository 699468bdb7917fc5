import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

/// Operator tokens for scripts and the dashboard: roles reader, deployer, admin.
struct Token: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Operator tokens (admins only): create, list, revoke.",
    discussion: """
      A token authenticates as `Authorization: Bearer …` (or `airlift --token`, $AIRLIFT_TOKEN) without a client \
      certificate. Roles: reader (reads everything), deployer (also releases, deployments, groups, channels, fleet \
      freeze), admin (also tokens and device revocation). The controller keeps only the SHA-256 of each token.
      """,
    subcommands: [Create.self, List.self, Revoke.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make a token; it is printed once.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "A name for it (who or what uses it).") var name: String
    @Option(help: "reader, deployer or admin.") var role: API.Role = .reader
    @Option(
      name: .customLong("repo"),
      help: """
        Limit it to this repository, as REPO or REPO=ROLE (its role there, never above --role); repeat for more. \
        A limited token reads the fleet and works only in its repositories.
        """)
    var repositories: [String] = []

    func run() async throws {
      var scope: [String: API.Role]?
      for entry in repositories {
        let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
        guard let name = parts.first, let role = parts.count == 2 ? API.Role(rawValue: parts[1]) : role else {
          throw ValidationError("--repo \(entry): give REPO or REPO=ROLE with ROLE reader, deployer or admin")
        }
        scope = (scope ?? [:]).merging([name: role]) { $1 }
      }
      let made = try await connection.withClient {
        try await $0.createToken(name: name, role: role, repositories: scope)
      }
      if connection.json { return print(Output.json(made)) }
      let limit = made.token.repositories.map { roles in
        " limited to " + roles.keys.sorted().map { "\($0) (\(roles[$0]!.rawValue))" }.joined(separator: ", ")
      }
      print(
        "token \(made.token.name) (\(made.token.role.rawValue))\(limit ?? ""); store it now, it is not shown again:")
      print(made.secret)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let tokens = try await connection.withClient { try await $0.tokens() }
      if connection.json { return print(Output.json(tokens)) }
      print(
        Output.table(
          ["NAME", "ROLE", "REPOSITORIES", "CREATED", "BY", "LAST USED", "REVOKED"],
          tokens.map {
            [
              $0.name, $0.role.rawValue,
              $0.repositories.map { r in r.keys.sorted().map { "\($0)=\(r[$0]!.rawValue)" }.joined(separator: ",") }
                ?? "all", Output.date($0.createdAt), $0.createdBy ?? "-",
              $0.lastUsedAt.map(Output.date) ?? "-", $0.revokedAt.map(Output.date) ?? "",
            ]
          }))
    }
  }

  struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End a token at once.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
      try await connection.withClient { try await $0.revokeToken(name: name) }
      if connection.json { return print(Output.json(["revoked": name])) }
      print("revoked token \(name)")
    }
  }
}

extension API.Role: ExpressibleByArgument {}

/// Who changed what, when.
struct Audit: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show the audit log: every operator write (who, what, when, how it ended), newest first.")
  @OptionGroup var connection: ConnectionOptions
  @Option(help: "How many entries.") var limit = 50

  func run() async throws {
    let entries = try await connection.withClient { try await $0.auditLog(limit: limit) }
    if connection.json { return print(Output.json(entries)) }
    print(
      Output.table(
        ["TIME", "WHO", "METHOD", "PATH", "STATUS"],
        entries.map { [Output.date($0.at), $0.actor, $0.method, $0.path, "\($0.status)"] }))
  }
}
