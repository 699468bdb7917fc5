import Foundation
import NIOSSL
import PostgresNIO
import Synchronization

/// Why the database refused or could not be reached, with the server's words.
public enum SQLDatabaseError: Error, CustomStringConvertible, Sendable {
  case invalidLocation(String, reason: String)
  case unreachable(String, reason: String)
  case statement(sqlState: String?, message: String, sql: String)

  /// Serialization failures and deadlocks: the transaction may simply run again.
  var isConflict: Bool {
    if case .statement(let state?, _, _) = self { return state == "40001" || state == "40P01" }
    return false
  }

  public var description: String {
    switch self {
    case .invalidLocation(let location, let reason):
      return "store location '\(location)' is not usable: \(reason) (use sqlite:PATH or postgres://USER@HOST:PORT/DB)"
    case .unreachable(let location, let reason):
      return "cannot reach the database at \(location): \(reason)"
    case .statement(let state, let message, let sql):
      return "the database refused a statement (\(state ?? "no SQLSTATE")): \(message) — in: \(sql.prefix(200))"
    }
  }

  static func describe(_ error: any Error) -> String {
    if let error = error as? PSQLError {
      if let message = error.serverInfo?[.message] { return message }
      return "\(error.code)"
    }
    return "\(error)"
  }
}

/// A parsed `postgres://` location.
struct PostgresLocation {
  let host: String
  let port: Int
  let user: String
  let password: String?
  let database: String
  let tls: Bool
  let display: String

  init(_ url: String) throws {
    guard let components = URLComponents(string: url),
      components.scheme == "postgres" || components.scheme == "postgresql"
    else { throw SQLDatabaseError.invalidLocation(url, reason: "not a postgres:// URL") }
    guard let host = components.host, !host.isEmpty else {
      throw SQLDatabaseError.invalidLocation(url, reason: "no host")
    }
    guard let user = components.user, !user.isEmpty else {
      throw SQLDatabaseError.invalidLocation(url, reason: "no user name")
    }
    let database = String(components.path.drop { $0 == "/" })
    guard !database.isEmpty else { throw SQLDatabaseError.invalidLocation(url, reason: "no database name") }
    let mode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
    guard ["disable", "require"].contains(mode) else {
      throw SQLDatabaseError.invalidLocation(url, reason: "sslmode must be disable or require, not \(mode)")
    }
    self.host = host
    self.port = components.port ?? 5432
    self.user = user.removingPercentEncoding ?? user
    self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
    self.database = database
    self.tls = mode == "require"
    display = "postgres://\(user)@\(host):\(port)/\(database)"
  }

  func configuration() throws -> PostgresConnection.Configuration {
    let tlsMode: PostgresConnection.Configuration.TLS =
      tls ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
    return PostgresConnection.Configuration(
      host: host, port: port, username: user, password: password, database: database, tls: tlsMode)
  }
}

/// The store's `?` placeholders as PostgreSQL's `$1, $2, …`, each statement rewritten once.
final class PostgresStatementCache: Sendable {
  private let rewritten = Mutex<[String: String]>([:])

  func sql(_ text: String) -> String {
    if let known = rewritten.withLock({ $0[text] }) { return known }
    let converted = Self.numberPlaceholders(text)
    rewritten.withLock { $0[text] = converted }
    return converted
  }

  /// The statements of a script, split at each `;` outside quotes and comments; empty ones dropped.
  static func statements(_ sql: String) -> [String] {
    var statements: [String] = []
    var current = ""
    scan(sql) { character, outside in
      if outside && character == ";" {
        statements.append(current)
        current = ""
      } else {
        current.append(character)
      }
    }
    statements.append(current)
    return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
  }

  /// Replaces each `?` outside quotes and comments with `$N`.
  static func numberPlaceholders(_ sql: String) -> String {
    var output = ""
    output.reserveCapacity(sql.utf8.count + 16)
    var count = 0
    scan(sql) { character, outside in
      if outside && character == "?" {
        count += 1
        output += "$\(count)"
      } else {
        output.append(character)
      }
    }
    return output
  }

  /// Calls `visit` with each character and whether it stands outside quotes and `--` comments.
  private static func scan(_ sql: String, _ visit: (Character, Bool) -> Void) {
    var quote: Character?
    var inComment = false
    var previous: Character = " "
    for character in sql {
      var outside = false
      if inComment {
        if character == "\n" { inComment = false }
      } else if let open = quote {
        if character == open { quote = nil }
      } else if character == "'" || character == "\"" {
        quote = character
      } else if character == "-" && previous == "-" {
        inComment = true
      } else {
        outside = true
      }
      visit(character, outside)
      previous = character
    }
  }

}
