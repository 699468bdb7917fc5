/// A SemVer 2.0 version with its precedence rules (build metadata ignored).
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
  public let major: UInt64
  public let minor: UInt64
  public let patch: UInt64
  public let preRelease: [String]
  public let build: [String]

  public init(_ text: String) throws(AirliftCoreError) {
    var rest = Substring(text)
    var build: [String] = []
    if let plus = rest.firstIndex(of: "+") {
      build = rest[rest.index(after: plus)...].split(separator: ".", omittingEmptySubsequences: false)
        .map(String.init)
      rest = rest[..<plus]
      guard build.allSatisfy({ !$0.isEmpty && $0.allSatisfy(Self.isIdentifierChar) }) else {
        throw .invalidVersion(text, reason: "build metadata must be dot-separated [0-9A-Za-z-] identifiers")
      }
    }
    var pre: [String] = []
    if let dash = rest.firstIndex(of: "-") {
      pre = rest[rest.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false)
        .map(String.init)
      rest = rest[..<dash]
      for id in pre {
        guard !id.isEmpty, id.allSatisfy(Self.isIdentifierChar) else {
          throw .invalidVersion(text, reason: "pre-release must be dot-separated [0-9A-Za-z-] identifiers")
        }
        if id.allSatisfy(\.isASCIIDigit), id.count > 1, id.first == "0" {
          throw .invalidVersion(text, reason: "numeric pre-release identifier '\(id)' has a leading zero")
        }
      }
    }
    let core = rest.split(separator: ".", omittingEmptySubsequences: false)
    guard core.count == 3 else {
      throw .invalidVersion(text, reason: "needs MAJOR.MINOR.PATCH")
    }
    var numbers: [UInt64] = []
    for part in core {
      guard !part.isEmpty, part.allSatisfy(\.isASCIIDigit), let n = UInt64(part) else {
        throw .invalidVersion(text, reason: "'\(part)' is not a number")
      }
      guard part == "0" || part.first != "0" else {
        throw .invalidVersion(text, reason: "'\(part)' has a leading zero")
      }
      numbers.append(n)
    }
    (major, minor, patch) = (numbers[0], numbers[1], numbers[2])
    preRelease = pre
    self.build = build
  }

  private static func isIdentifierChar(_ c: Character) -> Bool {
    c.isASCII && (c.isLetter || c.isNumber || c == "-")
  }

  public var description: String {
    var s = "\(major).\(minor).\(patch)"
    if !preRelease.isEmpty { s += "-" + preRelease.joined(separator: ".") }
    if !build.isEmpty { s += "+" + build.joined(separator: ".") }
    return s
  }

  /// Equality follows precedence: build metadata does not count.
  public static func == (a: Self, b: Self) -> Bool {
    (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch) && a.preRelease == b.preRelease
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(major)
    hasher.combine(minor)
    hasher.combine(patch)
    hasher.combine(preRelease)
  }

  public static func < (a: Self, b: Self) -> Bool {
    if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) {
      return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }
    switch (a.preRelease.isEmpty, b.preRelease.isEmpty) {
    case (true, true), (true, false): return false
    case (false, true): return true
    case (false, false): break
    }
    for (x, y) in zip(a.preRelease, b.preRelease) where x != y {
      switch (UInt64(x), UInt64(y)) {
      case (let nx?, let ny?): return nx < ny
      case (.some, nil): return true
      case (nil, .some): return false
      case (nil, nil): return x < y
      }
    }
    return a.preRelease.count < b.preRelease.count
  }

  public init(from decoder: any Decoder) throws {
    try self.init(try decoder.singleValueContainer().decode(String.self))
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(description)
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
