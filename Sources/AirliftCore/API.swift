import Foundation

/// JSON bodies of the controller's REST API (`/api/v1`), shared by the
/// controller and the `airlift` CLI so both sides agree by construction.
public enum API {
  /// The largest JSON request body the controller reads (asset uploads stream, with their own limit).
  public static let maxRequestBody = 2 << 20
  /// One file of a release: name, size, SHA-256, and its chunk index when it has one (what a device needs for a
  /// delta update).
  public struct Asset: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var sha256: String
    public var index: ChunkIndexRef?
    /// Its chunk pack (every chunk compressed on its own), when it compresses; named by its signed index.
    public var pack: PackRef?

    public init(name: String, size: Int64, sha256: String, index: ChunkIndexRef? = nil, pack: PackRef? = nil) {
      self.name = name
      self.size = size
      self.sha256 = sha256
      self.index = index
      self.pack = pack
    }
  }

  /// An asset's chunk pack, a blob (served at `/artifacts/{sha256}`).
  public struct PackRef: Codable, Sendable, Equatable, Hashable {
    public var sha256: String
    public var size: Int64

    public init(sha256: String, size: Int64) {
      self.sha256 = sha256
      self.size = size
    }
  }

  /// An asset's chunk index, itself a blob (served at `/artifacts/{sha256}` like the asset): `sha256` and `size`
  /// are those of its signed head (the whole index when it has no segments), which names the blob.
  public struct ChunkIndexRef: Codable, Sendable, Equatable, Hashable {
    public var sha256: String
    public var size: Int64
    public var chunks: Int

    public init(sha256: String, size: Int64, chunks: Int) {
      self.sha256 = sha256
      self.size = size
      self.chunks = chunks
    }
  }

  /// The signature a release carries, as operators see it.
  public struct ReleaseSignature: Codable, Sendable, Equatable {
    /// The signing key's id.
    public var key: String
    /// When devices stop accepting it (UTC).
    public var expires: String
    /// Whether it may replace a newer version (a signed downgrade).
    public var downgrade: Bool
    public var signedAt: Date
    /// The operator who uploaded the signature.
    public var signedBy: String?

    public init(key: String, expires: String, downgrade: Bool, signedAt: Date, signedBy: String?) {
      self.key = key
      self.expires = expires
      self.downgrade = downgrade
      self.signedAt = signedAt
      self.signedBy = signedBy
    }
  }

  /// A version of a package: its manifest (assets, handler, default
  /// parameters) and the tags that point at it.
  public struct Release: Codable, Sendable, Equatable {
    public var package: String
    public var version: String
    public var handler: String
    public var parameters: [String: String]
    public var assets: [Asset]
    public var tags: [String]
    public var createdAt: Date
    /// A distribution policy: devices that run an older version of the package and match it are offered this
    /// release (the newest matching one) when they have nothing else to do.
    public var policy: String?
    /// Who signed the release's manifest with which key, and until when it is valid (nil: unsigned).
    public var signature: ReleaseSignature?
    /// The containerized apps of a `compose` release.
    public var apps: [ReleaseApp]?
    /// Named JSON documents besides the assets: an SBOM, build information, free JSON.
    public var metadata: [MetadataDocument]?
    /// The hardware it is for (agents' `compatible`); nil: any device. Part of the signed manifest.
    public var compatible: [String]?
    /// When its assets were fixed (first deployed, tagged, given a policy, signed or sealed by hand); nil: a
    /// draft, which may still be given assets.
    public var sealedAt: Date?

    public init(
      package: String, version: String, handler: String, parameters: [String: String] = [:], assets: [Asset],
      tags: [String] = [], createdAt: Date, policy: String? = nil, signature: ReleaseSignature? = nil,
      apps: [ReleaseApp]? = nil, metadata: [MetadataDocument]? = nil, compatible: [String]? = nil,
      sealedAt: Date? = nil
    ) {
      self.sealedAt = sealedAt
      self.compatible = compatible?.isEmpty == true ? nil : compatible
      self.apps = apps
      self.metadata = metadata
      self.policy = policy
      self.signature = signature
      self.package = package
      self.version = version
      self.handler = handler
      self.parameters = parameters
      self.assets = assets
      self.tags = tags
      self.createdAt = createdAt
    }
  }

  /// `POST /api/v1/releases`: a release made of blobs uploaded before.
  public struct CreateRelease: Codable, Sendable, Equatable {
    public struct AssetRef: Codable, Sendable, Equatable {
      public var name: String
      public var sha256: String

      public init(name: String, sha256: String) {
        self.name = name
        self.sha256 = sha256
      }
    }
    public var package: String
    public var version: String
    public var handler: String
    public var parameters: [String: String]
    public var assets: [AssetRef]
    /// For a `compose` release: its apps, each naming the asset that holds its bundle.
    public var apps: [ReleaseApp]?
    /// The hardware it is for (matched against each agent's `compatible`); nil or empty: any device.
    public var compatible: [String]?

    public init(
      package: String, version: String, handler: String = HandlerName.script, parameters: [String: String] = [:],
      assets: [AssetRef], apps: [ReleaseApp]? = nil, compatible: [String]? = nil
    ) {
      self.compatible = compatible
      self.apps = apps
      self.package = package
      self.version = version
      self.handler = handler
      self.parameters = parameters
      self.assets = assets
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      package = try c.decode(String.self, forKey: .package)
      version = try c.decode(String.self, forKey: .version)
      handler = try c.decodeIfPresent(String.self, forKey: .handler) ?? HandlerName.script
      parameters = try c.decodeIfPresent([String: String].self, forKey: .parameters) ?? [:]
      assets = try c.decode([AssetRef].self, forKey: .assets)
      apps = try c.decodeIfPresent([ReleaseApp].self, forKey: .apps)
      compatible = try c.decodeIfPresent([String].self, forKey: .compatible)
    }
  }

  /// A stored blob (`POST /api/v1/blobs`).
  public struct Blob: Codable, Sendable, Equatable {
    public var sha256: String
    public var size: Int64

    public init(sha256: String, size: Int64) {
      self.sha256 = sha256
      self.size = size
    }
  }

  /// A name for a version: locked tags never move, floating tags do.
  public struct Tag: Codable, Sendable, Equatable {
    public var package: String
    public var name: String
    public var version: String
    public var locked: Bool
    public var updatedAt: Date

    public init(package: String, name: String, version: String, locked: Bool, updatedAt: Date) {
      self.package = package
      self.name = name
      self.version = version
      self.locked = locked
      self.updatedAt = updatedAt
    }
  }

  /// `PUT /api/v1/packages/{package}/tags/{tag}`.
  public struct SetTag: Codable, Sendable, Equatable {
    public var version: String
    public var locked: Bool

    public init(version: String, locked: Bool = false) {
      self.version = version
      self.locked = locked
    }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      version = try c.decode(String.self, forKey: .version)
      locked = try c.decodeIfPresent(Bool.self, forKey: .locked) ?? false
    }
  }

  public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
      /// Stable, machine-readable: `release_exists`, `not_found`, `invalid_request` …
      public var code: String
      /// For a person: what went wrong and what to do.
      public var message: String

      public init(code: String, message: String) {
        self.code = code
        self.message = message
      }
    }
    public var error: Detail

    public init(code: String, message: String) {
      error = Detail(code: code, message: message)
    }
  }
}
