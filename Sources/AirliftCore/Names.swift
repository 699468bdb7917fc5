import Foundation

/// Validation of names that end up in URLs, file names and SQL.
public enum Names {
  /// Package names: `NAME` (a package of the default repository) or `REPO/NAME`, each part 1-64 lower-case
  /// letters, digits, `.`, `_`, `-`, starting with a letter or digit. `default/NAME` is refused: the default
  /// repository's packages keep the names they had before repositories existed.
  public static func validatePackage(_ name: String) throws(AirliftCoreError) {
    let parts = name.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count <= 2, parts.allSatisfy({ isPlainName($0) }) else { throw .invalidPackageName(name) }
    if parts.count == 2, parts[0] == Substring(defaultRepository) {
      throw .defaultRepositoryNamed(package: String(parts[1]))
    }
  }

  /// Repository names (and other single-part names such as the controller's MQTT identity): 1-64 lower-case
  /// letters, digits, `.`, `_`, `-`, starting with a letter or digit.
  public static func validateRepository(_ name: String) throws(AirliftCoreError) {
    guard isPlainName(Substring(name)) else { throw .invalidRepositoryName(name) }
  }

  /// The repository packages named without one belong to.
  public static let defaultRepository = "default"

  /// The repository a package belongs to: the part before the `/`, or the default repository.
  public static func repository(of package: String) -> String {
    guard let slash = package.firstIndex(of: "/") else { return defaultRepository }
    return String(package[..<slash])
  }

  /// A package name as one file name on a device (`acme/gw-fw` becomes `acme+gw-fw`; `+` is in no package name),
  /// so packages of different repositories never share a folder.
  public static func packageFileName(_ package: String) -> String {
    package.replacingOccurrences(of: "/", with: "+")
  }

  private static func isPlainName(_ name: Substring) -> Bool {
    guard let first = name.unicodeScalars.first, name.utf8.count <= 64, isLowerAlnum(first) else { return false }
    return name.unicodeScalars.allSatisfy({ isLowerAlnum($0) || $0 == "." || $0 == "_" || $0 == "-" })
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
