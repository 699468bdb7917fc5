/// What a policy expression is evaluated against: one device's attributes and installed packages.
public struct PolicySubject: Sendable, Equatable {
  /// Device attributes by name, such as `model`, `region` or `tags` (a comma-separated list).
  public var attributes: [String: String]
  /// Installed packages: package name to version, such as `"gw-fw": "1.4.0"`.
  public var installed: [String: String]

  public init(attributes: [String: String] = [:], installed: [String: String] = [:]) {
    self.attributes = attributes
    self.installed = installed
  }
}

/// A condition over a device's attributes and installed packages, used to target devices (dynamic groups,
/// distribution policies), such as
/// `model == "gw-200" && region in ["eu", "us"] && app("gw-fw") < "2.0.0" && !(tags contains "lab")`.
///
/// ```
/// expression = or
/// or         = and { "||" and }
/// and        = unary { "&&" unary }
/// unary      = "!" unary | primary
/// primary    = "(" expression ")" | "true" | "false" | test | comparison
/// test       = "installed" "(" string ")" | "has" "(" ( string | identifier ) ")"
/// comparison = value ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) value | "in" list | "contains" value )
/// value      = identifier | string | number | version | "app" "(" string ")"
/// list       = "[" [ item { "," item } ] "]"
/// item       = string | number | version
/// identifier = ( letter | "_" ) { letter | digit | "_" | "." | "-" }    (ASCII; not true, false, in, contains)
/// string     = '"' { any character but '"' and '\' | '\"' | '\\' } '"'
/// number     = [ "-" ] digit { digit } [ "." digit { digit } ]
/// version    = an unquoted SemVer 2.0 version, such as 1.2.0 or 2.0.0-rc.1
/// ```
///
/// Spaces, tabs and newlines may separate tokens. A comparison binds tightest, then `!`, then `&&`, then `||`:
/// `!tags contains "lab"` is `!(tags contains "lab")`, and `a == "1" || b == "2" && c == "3"` is
/// `a == "1" || (b == "2" && c == "3")`. An identifier followed by `(` is a function call.
///
/// - An identifier is the device attribute of that name; `app("gw-fw")` is the installed version of the package
///   `gw-fw`. A string, number or version is its text: `battery >= 20` is the same as `battery >= "20"`.
/// - An attribute the device lacks, or `app(…)` of a package it does not have, is *missing*: every comparison with
///   a missing value is false except `!=`, which is true; `in` and `contains` are false. So a device without a
///   region matches both `region != "eu"` and `!(region == "eu")`; write `has(region) && region != "eu"` to leave
///   it out.
/// - `installed("gw-fw")` is true when the package is installed (any version); `has(region)` or `has("region")` is
///   true when the attribute exists, even if empty.
/// - When both sides of a comparison are SemVer versions, they compare by SemVer precedence: `"1.10.0" > "1.9.0"`,
///   `"2.0.0-rc.1" < "2.0.0"`, and build metadata is ignored (`"1.2.0+b7" == "1.2.0"`).
/// - Otherwise `==` and `!=` compare the text exactly (case-sensitive; `battery == 20` does not match `"20.0"`),
///   and `<`, `<=`, `>`, `>=` compare numbers when both sides are decimal numbers as in the grammar. For anything
///   else (text, or a version against a number) they are false rather than an error, since devices differ.
/// - `value in [item, …]` is true when `value == item` for one of the items.
/// - `list contains value` reads the left side as a comma-separated list (`tags` = `"lab, eu-test"`) and is true
///   when one element, with spaces and tabs trimmed, is exactly the right side's (trimmed, non-empty) text.
/// - An expression is at most 4096 characters, with parentheses and `!` nested at most 64 deep.
public struct PolicyExpression: Sendable, Equatable, CustomStringConvertible {
  /// The longest expression accepted, in characters.
  public static let maximumLength = 4096
  /// The deepest nesting of parentheses and `!` accepted.
  public static let maximumDepth = 64

  /// The expression as written.
  public let text: String
  private let root: PolicyNode

  /// Parses an expression (see the type's grammar); errors point at the offending character.
  public init(_ text: String) throws(PolicyExpressionError) {
    var chars: [Character] = []
    for char in text {
      if chars.count == Self.maximumLength {
        throw .invalid(
          expression: text, position: Self.maximumLength + 1,
          reason: "the expression is longer than \(Self.maximumLength) characters")
      }
      chars.append(char)
    }
    var parser = try PolicyParser(text: text, chars: chars)
    root = try parser.parseExpression()
    self.text = text
  }

  public var description: String { text }

  /// Whether the subject satisfies the expression.
  public func matches(_ subject: PolicySubject) -> Bool { root.evaluate(subject) }

  /// Two expressions are equal when they are written the same way.
  public static func == (a: Self, b: Self) -> Bool { a.text == b.text }
}

/// Why an expression was refused, with the 1-based character position of the mistake.
public struct PolicyExpressionError: PositionedError, Equatable, Sendable {
  public let expression: String
  /// The 1-based character position of the mistake (one past the end when something is missing at the end).
  public let position: Int
  public let reason: String

  public var text: String { expression }

  public static func invalid(expression: String, position: Int, reason: String) -> Self {
    Self(expression: expression, position: position, reason: reason)
  }

  public var description: String { "invalid expression '\(expression)' at position \(position): \(reason)" }
}

// MARK: - Syntax tree and evaluation

/// A comparison operator.
private enum PolicyComparison: String, Sendable, CaseIterable {
  case equal = "=="
  case notEqual = "!="
  case less = "<"
  case lessOrEqual = "<="
  case greater = ">"
  case greaterOrEqual = ">="
}

/// A text value with its readings as a SemVer version and as a decimal number, when it has them.
private struct PolicyScalar: Sendable {
  let text: String
  let version: SemanticVersion?
  let number: Double?

  init(_ text: String) {
    self.text = text
    version = try? SemanticVersion(text)
    number = PolicyScalar.isDecimal(text) ? Double(text) : nil
  }

  /// `[ "-" ] digit { digit } [ "." digit { digit } ]`.
  static func isDecimal(_ text: String) -> Bool {
    var rest = Substring(text)
    if rest.first == "-" { rest = rest.dropFirst() }
    let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
  }

  /// Compares two values (nil is missing) by the rules in `PolicyExpression`'s documentation.
  static func compare(_ a: PolicyScalar?, _ op: PolicyComparison, _ b: PolicyScalar?) -> Bool {
    guard let a, let b else { return op == .notEqual }
    if let x = a.version, let y = b.version { return holds(op, x, y) }
    switch op {
    case .equal: return a.text == b.text
    case .notEqual: return a.text != b.text
    default:
      guard let x = a.number, let y = b.number else { return false }
      return holds(op, x, y)
    }
  }

  private static func holds<T: Comparable>(_ op: PolicyComparison, _ x: T, _ y: T) -> Bool {
    switch op {
    case .equal: return x == y
    case .notEqual: return x != y
    case .less: return x < y
    case .lessOrEqual: return x <= y
    case .greater: return x > y
    case .greaterOrEqual: return x >= y
    }
  }

  /// Whether this value, read as a comma-separated list, has an element equal to `item`.
  func containsElement(_ item: PolicyScalar) -> Bool {
    let needle = PolicyScalar.trimmed(Substring(item.text))
    guard !needle.isEmpty else { return false }
    return text.split(separator: ",").contains { PolicyScalar.trimmed($0) == needle }
  }

  private static func trimmed(_ text: Substring) -> Substring {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
    else { return "" }
    return text[first...last]
  }
}

/// A value in a comparison.
private enum PolicyOperand: Sendable {
  case attribute(String)
  case app(String)
  case literal(PolicyScalar)

  /// The value for `subject`, or nil when it is missing.
  func resolve(_ subject: PolicySubject) -> PolicyScalar? {
    switch self {
    case .attribute(let name): return subject.attributes[name].map(PolicyScalar.init)
    case .app(let package): return subject.installed[package].map(PolicyScalar.init)
    case .literal(let scalar): return scalar
    }
  }
}

/// A parsed condition; `&&` and `||` chains are flat lists, so only parentheses and `!` make the tree deeper.
private enum PolicyNode: Sendable {
  case constant(Bool)
  indirect case not(PolicyNode)
  case all([PolicyNode])
  case any([PolicyNode])
  case installed(String)
  case has(String)
  case compare(PolicyOperand, PolicyComparison, PolicyOperand)
  case member(PolicyOperand, [PolicyScalar])
  case contains(PolicyOperand, PolicyOperand)

  func evaluate(_ subject: PolicySubject) -> Bool {
    switch self {
    case .constant(let value): return value
    case .not(let node): return !node.evaluate(subject)
    case .all(let nodes): return nodes.allSatisfy { $0.evaluate(subject) }
    case .any(let nodes): return nodes.contains { $0.evaluate(subject) }
    case .installed(let package): return subject.installed[package] != nil
    case .has(let name): return subject.attributes[name] != nil
    case .compare(let left, let op, let right):
      return PolicyScalar.compare(left.resolve(subject), op, right.resolve(subject))
    case .member(let operand, let items):
      guard let value = operand.resolve(subject) else { return false }
      return items.contains { PolicyScalar.compare(value, .equal, $0) }
    case .contains(let list, let item):
      guard let list = list.resolve(subject), let item = item.resolve(subject) else { return false }
      return list.containsElement(item)
    }
  }
}

// MARK: - Parsing

private enum PolicyTokenKind: Equatable {
  case identifier(String)
  /// An identifier directly followed (after optional spaces) by `(`, which is not part of this token.
  case call(String)
  case string(String)
  /// A decimal number or an unquoted SemVer version.
  case number(String)
  /// One of `in`, `contains`, `true`, `false`.
  case keyword(String)
  /// One of `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||`, `!`, `(`, `)`, `[`, `]`, `,`.
  case symbol(String)
  case end
}

/// A token and where it is, as 0-based offsets into the expression's characters.
private struct PolicyToken {
  let kind: PolicyTokenKind
  let start: Int
  let end: Int
}

/// A recursive-descent parser that reads tokens one at a time, so mistakes are reported left to right.
private struct PolicyParser {
  static let functions = ["app", "installed", "has"]
  static let keywords = ["in", "contains", "true", "false"]
  static let valueHint = "a value (a name, \"string\", number or app(\"…\"))"
  static let conditionHint = "a condition (such as model == \"gw-200\")"

  let text: String
  let chars: [Character]
  /// Where the lexer continues.
  private var index = 0
  /// The token being looked at.
  private var token = PolicyToken(kind: .end, start: 0, end: 0)
  /// Parentheses and `!` currently open.
  private var depth = 0

  init(text: String, chars: [Character]) throws(PolicyExpressionError) {
    self.text = text
    self.chars = chars
    try advance()
  }

  // MARK: Grammar

  mutating func parseExpression() throws(PolicyExpressionError) -> PolicyNode {
    if token.kind == .end { throw fail(0, "empty expression: expected \(Self.conditionHint)") }
    let node = try parseOr()
    switch token.kind {
    case .end: return node
    case .symbol(")"): throw fail(token.start, "unexpected ')' without a matching '('")
    default: throw expected("'&&', '||' or the end")
    }
  }

  private mutating func parseOr() throws(PolicyExpressionError) -> PolicyNode {
    var terms = [try parseAnd()]
    while token.kind == .symbol("||") {
      try advance()
      terms.append(try parseAnd())
    }
    return terms.count == 1 ? terms[0] : .any(terms)
  }

  private mutating func parseAnd() throws(PolicyExpressionError) -> PolicyNode {
    var terms = [try parseUnary()]
    while token.kind == .symbol("&&") {
      try advance()
      terms.append(try parseUnary())
    }
    return terms.count == 1 ? terms[0] : .all(terms)
  }

  private mutating func parseUnary() throws(PolicyExpressionError) -> PolicyNode {
    guard token.kind == .symbol("!") else { return try parsePrimary() }
    try enter()
    try advance()
    let node = try parseUnary()
    depth -= 1
    return .not(node)
  }

  private mutating func parsePrimary() throws(PolicyExpressionError) -> PolicyNode {
    let node: PolicyNode
    switch token.kind {
    case .symbol("("):
      let open = token.start
      try enter()
      try advance()
      let inner = try parseOr()
      guard token.kind == .symbol(")") else {
        throw expected("'&&', '||' or ')' to close the '(' at position \(open + 1)")
      }
      try advance()
      depth -= 1
      node = inner
    case .keyword("true"), .keyword("false"):
      node = .constant(token.kind == .keyword("true"))
      try advance()
    case .call("installed"):
      node = .installed(try parseArgument(of: "installed", what: "a package name", allowName: false))
    case .call("has"):
      node = .has(try parseArgument(of: "has", what: "an attribute name", allowName: true))
    case .identifier, .string, .number, .call("app"):
      return try parseComparison()
    default:
      throw expected(Self.conditionHint)
    }
    if let op = comparisonOperator() {
      throw fail(
        token.start, "'\(op)' cannot follow a condition (only a name, \"string\", number or app(\"…\") is compared)")
    }
    return node
  }

  private mutating func parseComparison() throws(PolicyExpressionError) -> PolicyNode {
    let leftStart = token.start
    let left = try parseValue()
    let node: PolicyNode
    if case .symbol(let symbol) = token.kind, let op = PolicyComparison(rawValue: symbol) {
      try advance()
      node = .compare(left, op, try parseValue())
    } else if token.kind == .keyword("in") {
      try advance()
      node = .member(left, try parseList())
    } else if token.kind == .keyword("contains") {
      try advance()
      node = .contains(left, try parseValue())
    } else {
      let leftText = Self.clipped(source(leftStart..<token.start).trimmingBlanks)
      throw expected("'==', '!=', '<', '<=', '>', '>=', 'in' or 'contains' after \(leftText)")
    }
    if let op = comparisonOperator() {
      throw fail(token.start, "'\(op)' cannot follow a comparison (join comparisons with '&&' or '||')")
    }
    return node
  }

  private mutating func parseValue() throws(PolicyExpressionError) -> PolicyOperand {
    switch token.kind {
    case .identifier(let name):
      try advance()
      return .attribute(name)
    case .string(let value), .number(let value):
      try advance()
      return .literal(PolicyScalar(value))
    case .call("app"):
      return .app(try parseArgument(of: "app", what: "a package name", allowName: false))
    case .call(let name):
      throw fail(token.start, "\(name)(…) is true or false, not a value to compare; use it on its own")
    default:
      throw expected(Self.valueHint)
    }
  }

  /// The argument of `name(…)`, with the token at the name; a quoted string, or also a bare name if `allowName`.
  private mutating func parseArgument(of name: String, what: String, allowName: Bool) throws(PolicyExpressionError)
    -> String
  {
    try advance()  // the name; the lexer guarantees that "(" follows
    try advance()
    let argument: String
    switch token.kind {
    case .string(let value):
      argument = value
    case .identifier(let value) where allowName:
      argument = value
    default:
      let form = allowName ? "a name or a string" : "a string in double quotes"
      throw expected("\(what) (\(form)) as in \(name)(\"…\")")
    }
    try advance()
    guard token.kind == .symbol(")") else { throw expected("')' after the argument of \(name)(…)") }
    try advance()
    return argument
  }

  private mutating func parseList() throws(PolicyExpressionError) -> [PolicyScalar] {
    guard token.kind == .symbol("[") else { throw expected("'[' to start a list, as in region in [\"eu\", \"us\"]") }
    try advance()
    var items: [PolicyScalar] = []
    if token.kind == .symbol("]") {
      try advance()
      return items
    }
    while true {
      switch token.kind {
      case .string(let value), .number(let value): items.append(PolicyScalar(value))
      default: throw expected("a string or number in the list")
      }
      try advance()
      switch token.kind {
      case .symbol(","): try advance()
      case .symbol("]"):
        try advance()
        return items
      default: throw expected("']' or ',' in the list")
      }
    }
  }

  /// The operator at the current token if it is one a comparison would take.
  private func comparisonOperator() -> String? {
    switch token.kind {
    case .symbol(let symbol) where PolicyComparison(rawValue: symbol) != nil: return symbol
    case .keyword("in"), .keyword("contains"): return source(token.start..<token.end)
    default: return nil
    }
  }

  private mutating func enter() throws(PolicyExpressionError) {
    guard depth < PolicyExpression.maximumDepth else {
      throw fail(token.start, "parentheses and '!' are nested more than \(PolicyExpression.maximumDepth) deep")
    }
    depth += 1
  }

  // MARK: Errors

  private func fail(_ index: Int, _ reason: String) -> PolicyExpressionError {
    .invalid(expression: text, position: index + 1, reason: reason)
  }

  /// "expected …, found 'x'" at the current token, or "expected … but the expression ended" after the end.
  private func expected(_ what: String) -> PolicyExpressionError {
    if token.kind == .end { return fail(chars.count, "expected \(what) but the expression ended") }
    return fail(token.start, "expected \(what), found '\(Self.clipped(source(token.start..<token.end)))'")
  }

  /// `text`, cut short with "…" if it is long.
  private static func clipped(_ text: String) -> String { text.count > 24 ? String(text.prefix(23)) + "…" : text }

  private func source(_ range: Range<Int>) -> String { String(chars[range]) }

  // MARK: Tokens

  private mutating func advance() throws(PolicyExpressionError) {
    while index < chars.count, chars[index].isWhitespace { index += 1 }
    let start = index
    guard start < chars.count else {
      token = PolicyToken(kind: .end, start: start, end: start)
      return
    }
    let char = chars[start]
    let next: Character? = start + 1 < chars.count ? chars[start + 1] : nil
    let kind: PolicyTokenKind
    switch char {
    case "(", ")", "[", "]", ",":
      index += 1
      kind = .symbol(String(char))
    case "<", ">", "!":
      index += next == "=" ? 2 : 1
      kind = .symbol(source(start..<index))
    case "=", "&", "|":
      let double = String(repeating: char, count: 2)
      guard next == char else { throw fail(start, "'\(char)' alone is not an operator; did you mean '\(double)'?") }
      index += 2
      kind = .symbol(double)
    case "\"":
      kind = .string(try lexString())
    case "'":
      throw fail(start, "strings are written in double quotes, not single quotes")
    case _ where char.isDigitASCII || (char == "-" && next?.isDigitASCII == true):
      kind = .number(try lexNumber())
    case _ where char.isLetterASCII || char == "_":
      index += 1
      while index < chars.count, chars[index].isIdentifierASCII { index += 1 }
      let word = source(start..<index)
      var after = index
      while after < chars.count, chars[after].isWhitespace { after += 1 }
      if Self.keywords.contains(word) {
        kind = .keyword(word)
      } else if after < chars.count, chars[after] == "(" {
        guard Self.functions.contains(word) else {
          throw fail(start, "unknown function '\(word)' (known: \(Self.functions.joined(separator: ", ")))")
        }
        kind = .call(word)
      } else {
        kind = .identifier(word)
      }
    default:
      throw fail(start, "unexpected character '\(char)'")
    }
    token = PolicyToken(kind: kind, start: start, end: index)
  }

  /// A string literal starting at the opening quote at `index`, without its quotes and escapes.
  private mutating func lexString() throws(PolicyExpressionError) -> String {
    let open = index
    index += 1
    var value = ""
    while index < chars.count {
      let char = chars[index]
      if char == "\"" {
        index += 1
        return value
      }
      if char == "\\" {
        guard index + 1 < chars.count else { break }
        let escaped = chars[index + 1]
        guard escaped == "\"" || escaped == "\\" else {
          throw fail(index, "unknown escape '\\\(escaped)' (only \\\" and \\\\ are allowed in a string)")
        }
        value.append(escaped)
        index += 2
      } else {
        value.append(char)
        index += 1
      }
    }
    throw fail(open, "unterminated string: no closing '\"'")
  }

  /// A decimal number or unquoted version starting at `index`.
  private mutating func lexNumber() throws(PolicyExpressionError) -> String {
    let start = index
    index += 1
    while index < chars.count, chars[index].isIdentifierASCII || chars[index] == "+" { index += 1 }
    let word = source(start..<index)
    guard PolicyScalar.isDecimal(word) || (try? SemanticVersion(word)) != nil else {
      throw fail(start, "'\(word)' is not a number or version (such as 20, -1.5 or 1.2.0); quote text as \"…\"")
    }
    return word
  }
}

extension Character {
  fileprivate var isDigitASCII: Bool { isASCII && isNumber }
  fileprivate var isLetterASCII: Bool { isASCII && isLetter }
  fileprivate var isIdentifierASCII: Bool {
    isASCII && (isLetter || isNumber || self == "_" || self == "." || self == "-")
  }
}

extension String {
  fileprivate var trimmingBlanks: String {
    var text = Substring(self)
    while text.last?.isWhitespace == true { text = text.dropLast() }
    return String(text)
  }
}
