/// Errors from parsing and validating Airlift's wire formats and names.
public enum AirliftCoreError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidDeviceID(String)
  case invalidVersion(String, reason: String)
  case invalidPackageName(String)
  case invalidRepositoryName(String)
  case defaultRepositoryNamed(package: String)
  case malformedPayload(topic: String, reason: String)
  case unsupportedPayloadVersion(topic: String, version: Int)
  case unknownTopic(String)
  case invalidRange(String)
  case invalidDigest(String)
  case invalidParameterName(String)
  case invalidName(String)
  case invalidRollout(String)
  case invalidAssetName(String)
  /// A compose app's name, image id or image reference.
  case invalidAppField(kind: String, value: String, reason: String)
  /// The container engine's pull stream reported an error, or was not its JSON.
  case imagePull(reason: String)
  /// A metadata document that cannot be attached to a version.
  case invalidMetadata(name: String, reason: String)
  /// A number outside the range Airlift accepts for it (`Limits`).
  case outOfRange(field: String, value: String, allowed: String)
  /// A request whose fields do not fit together, or a field that fits no rule.
  case invalidField(field: String, reason: String)

  public var description: String {
    switch self {
    case .outOfRange(let field, let value, let allowed):
      return "\(field) is \(value), out of range: give \(allowed)"
    case .invalidField(let field, let reason):
      return "\(field): \(reason)"
    case .invalidMetadata(let name, let reason):
      return "metadata document '\(name)' refused: \(reason)"
    case .imagePull(let reason):
      return "the container engine's image pull failed: \(reason)"
    case .invalidDeviceID(let id):
      return
        "invalid device id '\(id)': use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, not starting with 'airlift-'"
    case .invalidVersion(let v, let reason):
      return "invalid version '\(v)': \(reason) (expected SemVer 2.0, e.g. 1.4.0 or 2.0.0-rc.1)"
    case .invalidPackageName(let name):
      return
        "invalid package name '\(name)': use NAME or REPO/NAME, each 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
    case .invalidRepositoryName(let name):
      return
        "invalid repository name '\(name)': use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
    case .defaultRepositoryNamed(let package):
      return "the default repository's packages are named without it: say '\(package)', not 'default/\(package)'"
    case .malformedPayload(let topic, let reason):
      return "malformed payload on '\(topic)': \(reason)"
    case .unsupportedPayloadVersion(let topic, let version):
      return "payload on '\(topic)' has version v=\(version); this build understands v=1"
    case .unknownTopic(let topic):
      return "topic '\(topic)' is not an Airlift v1 device topic"
    case .invalidRange(let header):
      return "unsupported or unsatisfiable Range header '\(header)'"
    case .invalidParameterName(let name):
      return
        "invalid parameter name '\(name)': use letters, digits and '_', not starting with a digit (it becomes an environment variable)"
    case .invalidName(let name):
      return "invalid name '\(name)': use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    case .invalidRollout(let reason):
      return "invalid rollout plan: \(reason)"
    case .invalidAssetName(let name):
      return
        "invalid asset name '\(name)': use a plain file name of 1-255 bytes, without '/' or control characters"
    case .invalidAppField(let kind, let value, let reason):
      return "invalid \(kind) '\(value)': \(reason)"
    case .invalidDigest(let value):
      return "invalid SHA-256 digest '\(value)': expected 64 lower-case hex characters"
    }
  }
}
