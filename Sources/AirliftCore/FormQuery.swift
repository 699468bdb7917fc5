import Foundation

/// A URL query as browsers and HTML forms write it
/// (`application/x-www-form-urlencoded`): `&`-separated `name=value` pairs,
/// `+` for a space, `%XX` escapes. Parsed once here so every route and page
/// reads `where=version >= 1.0.0` the same way, whoever wrote the URL.
public struct FormQuery: Sendable, Equatable {
  public var pairs: [(name: String, value: String)]

  public init(_ raw: String?) {
    pairs = []
    guard let raw, !raw.isEmpty else { return }
    for item in raw.split(separator: "&", omittingEmptySubsequences: true) {
      let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      pairs.append((Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : ""))
    }
  }

  /// The first value of `name`.
  public func get(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

  /// Every value of `name`, in order.
  public func getAll(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }

  /// Writes pairs so that any value survives: everything but unreserved characters is escaped (`+` too).
  public static func encode(_ pairs: [(String, String)]) -> String {
    pairs.map { "\($0.0.formEscaped)=\($0.1.formEscaped)" }.joined(separator: "&")
  }

  public static func == (lhs: FormQuery, rhs: FormQuery) -> Bool {
    lhs.pairs.elementsEqual(rhs.pairs) { $0.name == $1.name && $0.value == $1.value }
  }

  /// `+` is a space; a malformed escape is kept as written.
  private static func decode(_ text: Substring) -> String {
    let spaced = text.replacingOccurrences(of: "+", with: " ")
    return spaced.removingPercentEncoding ?? spaced
  }
}

extension String {
  /// The string as a query name or value: only unreserved characters (RFC 3986) stay as they are.
  public var formEscaped: String {
    addingPercentEncoding(withAllowedCharacters: .formUnreserved) ?? self
  }
}

extension CharacterSet {
  static let formUnreserved = CharacterSet(
    charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}
