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

    func run() async throws {
      let made = try await connection.withClient { try await $0.createToken(name: name, role: role) }
      if connection.json { return print(Output.json(made)) }
      print("token \(made.token.name) (\(made.token.role.rawValue)); store it now, it is not shown again:")
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
          ["NAME", "ROLE", "CREATED", "BY", "LAST USED", "REVOKED"],
          tokens.map {
            [
              $0.name, $0.role.rawValue, Output.date($0.createdAt), $0.createdBy ?? "-",
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
