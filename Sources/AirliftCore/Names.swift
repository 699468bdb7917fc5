import Foundation

/// Validation of names that end up in URLs, file names and SQL.
public enum Names {
  /// Package names: lower-case letters, digits, `.`, `_`, `-`, at most 64.
  public static func validatePackage(_ name: String) throws(AirliftCoreError) {
    guard let first = name.unicodeScalars.first, name.utf8.count <= 64,
      isLowerAlnum(first),
      name.unicodeScalars.allSatisfy({ isLowerAlnum($0) || $0 == "." || $0 == "_" || $0 == "-" })
    else { throw .invalidPackageName(name) }
  }

  /// A SHA-256 digest as 64 lower-case hex characters.
  public static func validateDigest(_ digest: String) throws(AirliftCoreError) {
    guard digest.utf8.count == 64,
      digest.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) })
    else { throw .invalidDigest(digest) }
  }

  private static func isLowerAlnum(_ s: Unicode.Scalar) -> Bool {
    s.isASCII && (("a"..."z").contains(s) || ("0"..."9").contains(s))
  }
}

extension Names {
  /// Deployment parameter names: they become environment variables
  /// (`AIRLIFT_PARAM_<NAME>`) of install scripts, so only `[A-Za-z_][A-Za-z0-9_]*`.
  public static func validateParameter(_ name: String) throws(AirliftCoreError) {
    guard let first = name.unicodeScalars.first, name.utf8.count <= 64,
      first == "_" || isLetter(first),
      name.unicodeScalars.allSatisfy({ $0 == "_" || isLetter($0) || ("0"..."9").contains($0) })
    else { throw .invalidParameterName(name) }
  }

  private static func isLetter(_ s: Unicode.Scalar) -> Bool {
    s.isASCII && (("a"..."z").contains(s) || ("A"..."Z").contains(s))
  }
}

extension Names {
  /// Tag and group names: letters, digits, `.`, `_`, `-`, at most 64,
  /// starting with a letter or digit (`stable`, `v2.1.0`, `eu-gateways`).
  public static func validateTag(_ name: String) throws(AirliftCoreError) {
    guard let first = name.unicodeScalars.first, name.utf8.count <= 64, isAlnum(first),
      name.unicodeScalars.allSatisfy({ isAlnum($0) || $0 == "." || $0 == "_" || $0 == "-" })
    else { throw .invalidName(name) }
  }

  private static func isAlnum(_ s: Unicode.Scalar) -> Bool {
    s.isASCII && (("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s))
  }
}

extension Names {
  /// Asset names: plain file names (1-255 bytes, no `/`, no control characters, not `.` or `..`), so they
  /// can be a file name on the device and the last field of a manifest line.
  public static func validateAssetName(_ name: String) throws(AirliftCoreError) {
    guard !name.isEmpty, name.utf8.count <= 255, name != ".", name != "..",
      !name.unicodeScalars.contains(where: { $0 == "/" || $0.value < 0x20 || $0.value == 0x7F })
    else { throw .invalidAssetName(name) }
  }

  /// Lower-case letters, digits, `-` and `_` (handler names).
  static func isPlainWordScalar(_ s: Unicode.Scalar) -> Bool {
    isLowerAlnum(s) || s == "-" || s == "_"
  }
}

/// A parse error that points at the character it could not read (windows,
/// periods, policy expressions).
public protocol PositionedError: Error, CustomStringConvertible {
  /// The text as given.
  var text: String { get }
  /// The 1-based character position of the mistake.
  var position: Int { get }
  /// What was wrong there, or what was expected.
  var reason: String { get }
}

extension PositionedError {
  /// The text and, on the line below, a caret under the mistake.
  public var pointer: String { caretPointer(text, at: position) }
}

/// The text with a caret under the 1-based `position`: the second line of a
/// parse error.
func caretPointer(_ text: String, at position: Int) -> String {
  let indent = text.prefix(max(position - 1, 0)).map { $0 == "\t" ? "\t" : " " }.joined()
  return text + "\n" + indent + "^"
}

extension String {
  /// The string as one URL path segment: percent-escaped, a "/" included.
  public var urlPathSegment: String {
    addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? self
  }
}
