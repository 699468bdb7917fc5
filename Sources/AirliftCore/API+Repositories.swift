import Foundation

/// Repositories: namespaces of packages (`acme/gw-fw`) that operators, tokens and devices can be limited to.
extension API {
  /// A repository as listed and shown.
  public struct Repository: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var createdAt: Date
    public var createdBy: String?
    /// Its packages' names (`REPO/NAME`; bare names in the default repository).
    public var packages: [String]
    /// How many versions its packages hold.
    public var releases: Int

    public init(
      name: String, description: String, createdAt: Date, createdBy: String?, packages: [String], releases: Int
    ) {
      self.name = name
      self.description = description
      self.createdAt = createdAt
      self.createdBy = createdBy
      self.packages = packages
      self.releases = releases
    }
  }

  /// `POST /api/v1/repositories`.
  public struct CreateRepository: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?

    public init(name: String, description: String? = nil) {
      self.name = name
      self.description = description
    }
  }

  /// `PUT /api/v1/devices/{id}/repositories`: the repositories a device may read releases of; nil: all.
  public struct DeviceRepositories: Codable, Sendable, Equatable {
    public var device: String
    public var repositories: [String]?

    public init(device: String, repositories: [String]?) {
      self.device = device
      self.repositories = repositories
    }
  }

  /// `POST /api/v1/releases/{package}/{version}/assets`: one more asset for a draft version.
  public struct AddAsset: Codable, Sendable, Equatable {
    public var name: String
    public var sha256: String

    public init(name: String, sha256: String) {
      self.name = name
      self.sha256 = sha256
    }
  }

  /// `GET /api/v1/packages/{package}/tags/{tag}`: the version a tag names now.
  public struct ResolvedTag: Codable, Sendable, Equatable {
    public var package: String
    public var tag: String
    public var version: String

    public init(package: String, tag: String, version: String) {
      self.package = package
      self.tag = tag
      self.version = version
    }
  }
}

extension API.Device {
  /// Whether the device may read releases of `package` (its repositories allow it, or it is not limited).
  public func mayRead(_ package: String) -> Bool {
    repositories.map { $0.contains(Names.repository(of: package)) } ?? true
  }
}

extension API.Role {
  /// Whether this role allows what `needed` allows (admin ⊇ deployer ⊇ reader).
  public func covers(_ needed: API.Role) -> Bool { rank >= needed.rank }

  private var rank: Int {
    switch self {
    case .reader: 0
    case .deployer: 1
    case .admin: 2
    }
  }
}

/// What a limited operator token may do in each repository; nil scope (every certificate operator, every token
/// made without `repositories`) means its role everywhere.
public struct RepositoryScope: Codable, Sendable, Equatable {
  /// Repository name to the role the token has there; a repository not listed is out of its reach.
  public var roles: [String: API.Role]

  public init(roles: [String: API.Role]) { self.roles = roles }

  /// The role in `repository`, never more than `role`, the token's own.
  public func role(in repository: String, capped role: API.Role) -> API.Role? {
    guard let granted = roles[repository] else { return nil }
    return role.covers(granted) ? granted : role
  }
}

extension API {
  /// `DELETE /api/v1/releases/{package}/{version}`: what went with it.
  public struct DeletedRelease: Codable, Sendable, Equatable {
    public var package: String
    public var version: String
    /// Tags that named it.
    public var tags: [String]
    /// Finished deployments of it whose records went too.
    public var deployments: [String]
    /// Blobs (assets, chunk indexes, packs) no other release held, now removed.
    public var blobs: [String]
    public var bytes: Int64

    public init(
      package: String, version: String, tags: [String], deployments: [String], blobs: [String], bytes: Int64
    ) {
      self.package = package
      self.version = version
      self.tags = tags
      self.deployments = deployments
      self.blobs = blobs
      self.bytes = bytes
    }
  }
}
