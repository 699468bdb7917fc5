/// A version filter such as `<2.0.0`, `>=1.2.0 <2.0.0` or `=1.4.1`: every
/// comparison (separated by spaces or commas) must hold, by SemVer precedence.
public struct VersionRequirement: Sendable, Equatable, CustomStringConvertible {
  public enum Operator: String, Sendable, CaseIterable {
    case lessOrEqual = "<="
    case greaterOrEqual = ">="
    case notEqual = "!="
    case less = "<"
    case greater = ">"
    case equal = "="
  }

  public let clauses: [(Operator, SemanticVersion)]
  public let description: String

  public init(_ text: String) throws(AirliftCoreError) {
    let parts = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
    guard !parts.isEmpty else { throw .invalidVersion(text, reason: "empty version filter") }
    var clauses: [(Operator, SemanticVersion)] = []
    for part in parts {
      let op = Operator.allCases.first { part.hasPrefix($0.rawValue) }
      let versionText = op.map { String(part.dropFirst($0.rawValue.count)) } ?? part
      clauses.append((op ?? .equal, try SemanticVersion(versionText)))
    }
    self.clauses = clauses
    description = text
  }

  public func isSatisfied(by version: SemanticVersion) -> Bool {
    clauses.allSatisfy { op, bound in
      switch op {
      case .less: return version < bound
      case .lessOrEqual: return version < bound || version == bound
      case .greater: return bound < version
      case .greaterOrEqual: return bound < version || version == bound
      case .equal: return version == bound
      case .notEqual: return version != bound
      }
    }
  }

  public static func == (a: Self, b: Self) -> Bool { a.description == b.description }
}
