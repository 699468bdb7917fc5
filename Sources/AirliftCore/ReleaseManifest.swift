import Foundation

/// What an operator signs for a release: the package and version, the
/// handler that installs it, every asset with its size and digest, when the
/// signature stops being valid, and whether it may replace a newer version.
///
/// The signed bytes are ``canonicalText`` (specified in `docs/security.md`),
/// so anyone can sign or check a release with the `openssl` CLI alone.
public struct ReleaseManifest: Codable, Sendable, Equatable {
  /// One file of the release: name, size, SHA-256 (the same record the API lists).
  public typealias Asset = API.Asset

  public var package: String
  public var version: String
  public var handler: String
  /// UTC, whole seconds (`2026-12-31T00:00:00Z`): after it, devices refuse the release.
  public var expires: String
  /// Whether the release may be installed over a newer version of the package.
  public var downgrade: Bool
  public var assets: [Asset]
  /// The containerized apps of a `compose` release (nil or empty for other handlers).
  public var apps: [ReleaseApp]?
  /// The hardware it is for (`gw-200`), matched against each agent's `compatible`; nil or empty: any device.
  public var compatible: [String]?

  public init(
    package: String, version: String, handler: String, expires: String, downgrade: Bool = false, assets: [Asset],
    apps: [ReleaseApp]? = nil, compatible: [String]? = nil
  ) {
    self.compatible = compatible?.isEmpty == true ? nil : compatible
    self.package = package
    self.version = version
    self.handler = handler
    self.expires = expires
    self.downgrade = downgrade
    self.assets = assets
    self.apps = apps?.isEmpty == true ? nil : apps
  }

  /// The most hardware names a release may be for.
  public static let maxCompatible = 32

  /// The largest chunk index a manifest may name: 64 MiB, the index of a ~100 GiB asset.
  public static let maxIndexSize: Int64 = 64 << 20

  /// The first line of every manifest; a new format gets a new one.
  public static let header = "airlift-release-manifest v1"

  /// The bytes a signature covers: one `key value` line per field, assets
  /// sorted by name, then an `index` line per asset with a chunk index (its
  /// name, the SHA-256 and size of the index's signed head, and the chunk count; a manifest without
  /// indexes is what it always was), then (compose releases only) an `app`
  /// line per app and an `image` line per image, sorted, then a `compatible` line per hardware name the
  /// release is for, sorted (none for a release for any device); `\n` after every line.
  public var canonicalText: String {
    var lines = [
      Self.header, "package \(package)", "version \(version)", "handler \(handler)", "expires \(expires)",
      "downgrade \(downgrade ? "yes" : "no")",
    ]
    let sorted = assets.sorted(by: { Self.bytewise($0.name, $1.name) })
    for asset in sorted {
      lines.append("asset \(asset.sha256) \(asset.size) \(asset.name)")
    }
    for asset in sorted {
      guard let index = asset.index else { continue }
      lines.append("index \(index.sha256) \(index.size) \(index.chunks) \(asset.name)")
    }
    for app in (apps ?? []).sorted(by: { Self.bytewise($0.name, $1.name) }) {
      lines.append("app \(app.name) \(app.version) \(app.asset)")
      for image in app.images.sorted(by: { Self.bytewise($0.id + $0.reference, $1.id + $1.reference) }) {
        lines.append("image \(app.name) \(image.id) \(image.reference)")
      }
    }
    for name in (compatible ?? []).sorted(by: Self.bytewise) {
      lines.append("compatible \(name)")
    }
    return lines.map { $0 + "\n" }.joined()
  }

  private static func bytewise(_ a: String, _ b: String) -> Bool {
    Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
  }

  public var canonicalBytes: [UInt8] { Array(canonicalText.utf8) }

  /// The expiry as a date (nil when it is not in the canonical form).
  public var expiryDate: Date? { Self.parseExpiry(expires) }

  /// Writes `date` the way a manifest does (UTC, whole seconds).
  public static func formatExpiry(_ date: Date) -> String {
    Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).formatted(.iso8601)
  }

  static func parseExpiry(_ text: String) -> Date? {
    guard let date = try? Date(text, strategy: .iso8601), formatExpiry(date) == text else { return nil }
    return date
  }

  /// Checks that every field can be written canonically and read back the same.
  public func validate() throws(ReleaseRefusal) {
    func bad(_ reason: String) -> ReleaseRefusal { .malformedManifest(reason) }
    do { try Names.validatePackage(package) } catch { throw bad("\(error)") }
    do { _ = try SemanticVersion(version) } catch { throw bad("\(error)") }
    guard !handler.isEmpty, handler.unicodeScalars.allSatisfy({ Names.isPlainWordScalar($0) }) else {
      throw bad("invalid handler name '\(handler)'")
    }
    guard expiryDate != nil else { throw bad("expires '\(expires)' is not a UTC time like 2026-12-31T00:00:00Z") }
    guard !assets.isEmpty else { throw bad("it lists no assets") }
    var names = Set<String>()
    for asset in assets {
      do { try Names.validateAssetName(asset.name) } catch { throw bad("\(error)") }
      do { try Names.validateDigest(asset.sha256) } catch { throw bad("\(error)") }
      guard asset.size >= 0 else { throw bad("asset '\(asset.name)' has a negative size") }
      guard names.insert(asset.name).inserted else { throw bad("asset '\(asset.name)' is listed twice") }
      if let index = asset.index {
        do { try Names.validateDigest(index.sha256) } catch {
          throw bad("the chunk index of '\(asset.name)': \(error)")
        }
        guard (1...Self.maxIndexSize).contains(index.size), (0...Self.maxIndexSize / 36).contains(Int64(index.chunks))
        else {
          throw bad("the chunk index of '\(asset.name)' has \(index.size) bytes and \(index.chunks) chunks")
        }
      }
    }
    if let compatible {
      guard compatible.count <= Self.maxCompatible else {
        throw bad("it names \(compatible.count) compatible devices, at most \(Self.maxCompatible)")
      }
      for name in compatible {
        do { try Names.validateTag(name) } catch { throw bad("compatible '\(name)': \(error)") }
      }
      guard Set(compatible).count == compatible.count else { throw bad("a compatible name is listed twice") }
    }
    var appNames = Set<String>()
    for app in apps ?? [] {
      do { try app.validate() } catch { throw bad("\(error)") }
      guard names.contains(app.asset) else {
        throw bad("app '\(app.name)' names asset '\(app.asset)', not in the release")
      }
      guard appNames.insert(app.name).inserted else { throw bad("app '\(app.name)' is listed twice") }
    }
  }
}

/// A signature over a manifest's canonical bytes.
public struct ManifestSignature: Codable, Sendable, Equatable {
  /// The signing key's id: the first 16 hex characters of the SHA-256 of its 32-byte raw public key.
  public var key: String
  /// The 64-byte Ed25519 signature, base64.
  public var value: String

  public init(key: String, value: String) {
    self.key = key
    self.value = value
  }
}

/// A manifest with its signature, as the controller stores and serves it.
public struct SignedManifest: Codable, Sendable, Equatable {
  public var manifest: ReleaseManifest
  public var signature: ManifestSignature

  public init(manifest: ReleaseManifest, signature: ManifestSignature) {
    self.manifest = manifest
    self.signature = signature
  }
}
