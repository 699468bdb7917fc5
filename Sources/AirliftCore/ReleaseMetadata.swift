import Foundation

/// What a metadata document attached to a version is.
public enum MetadataKind: String, Codable, Sendable, CaseIterable {
  /// An SPDX JSON SBOM (has `spdxVersion`).
  case spdx = "sbom-spdx"
  /// A CycloneDX JSON SBOM (`"bomFormat": "CycloneDX"`).
  case cycloneDX = "sbom-cyclonedx"
  /// Build information: commit, pipeline, time, and whatever else the pipeline records.
  case build
  /// Any other JSON.
  case json
}

extension API {
  /// A named JSON document attached to a version besides its assets (an SBOM, build information, free JSON).
  public struct MetadataDocument: Codable, Sendable, Equatable {
    public var name: String
    public var kind: MetadataKind
    public var size: Int
    public var sha256: String
    public var createdAt: Date
    public var createdBy: String?

    public init(name: String, kind: MetadataKind, size: Int, sha256: String, createdAt: Date, createdBy: String?) {
      self.name = name
      self.kind = kind
      self.size = size
      self.sha256 = sha256
      self.createdAt = createdAt
      self.createdBy = createdBy
    }
  }
}

/// Checks and classifies metadata documents; pure.
public enum ReleaseMetadata {
  /// The largest document accepted (an SBOM of a large image runs to a few MB).
  public static let maxSize = 2 << 20

  /// The document's kind, or why it is refused: it must be JSON; one named
  /// `sbom` must be SPDX or CycloneDX JSON; one named `build` must be an
  /// object whose `commit`, `pipeline` and `time`, when present, are strings.
  public static func classify(name: String, document: [UInt8]) throws(AirliftCoreError) -> MetadataKind {
    func refuse(_ reason: String) -> AirliftCoreError { .invalidMetadata(name: name, reason: reason) }
    do { try Names.validateTag(name) } catch { throw refuse("use 1-64 letters, digits, '.', '_' or '-'") }
    guard document.count <= maxSize else { throw refuse("it is \(document.count) bytes; the limit is \(maxSize)") }
    let parsed: Any
    do {
      parsed = try JSONSerialization.jsonObject(with: Data(document), options: [.fragmentsAllowed])
    } catch {
      throw refuse("not JSON (\((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "parse error"))")
    }
    guard parsed is [String: Any] || parsed is [Any] else { throw refuse("a document is a JSON object or array") }
    let object = parsed as? [String: Any]
    let sbom: MetadataKind? =
      if object?["spdxVersion"] is String { .spdx } else if object?["bomFormat"] as? String == "CycloneDX" {
        .cycloneDX
      } else { nil }
    switch name {
    case "sbom":
      guard let sbom else {
        throw refuse(
          "an SBOM must be SPDX JSON (with spdxVersion) or CycloneDX JSON (with \"bomFormat\": \"CycloneDX\")")
      }
      return sbom
    case "build":
      guard let object else { throw refuse("build information must be a JSON object (commit, pipeline, time, …)") }
      for field in ["commit", "pipeline", "time"] where object[field] != nil && !(object[field] is String) {
        throw refuse("'\(field)' must be a string")
      }
      return .build
    default:
      return sbom ?? .json
    }
  }
}
