import Foundation

/// Who may do what: operator tokens, the audit log, device enrollment and revocation.
extension API {
  /// What an operator may do: read; also publish, deploy and steer the fleet; also manage tokens and revoke devices.
  public enum Role: String, Codable, Sendable, CaseIterable {
    case reader
    case deployer
    case admin
  }

  /// An operator token as listed (its secret is shown once, when it is created).
  public struct Token: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var createdBy: String?
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    /// Repositories it is limited to, each with its role there (never above `role`); nil: everywhere.
    public var repositories: [String: Role]?

    public init(
      name: String, role: Role, createdAt: Date, createdBy: String?, lastUsedAt: Date? = nil, revokedAt: Date? = nil,
      repositories: [String: Role]? = nil
    ) {
      self.repositories = repositories
      self.name = name
      self.role = role
      self.createdAt = createdAt
      self.createdBy = createdBy
      self.lastUsedAt = lastUsedAt
      self.revokedAt = revokedAt
    }
  }

  /// `POST /api/v1/tokens`.
  public struct CreateToken: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    /// Limits the token to these repositories, each with a role there; nil: its role everywhere.
    public var repositories: [String: Role]?

    public init(name: String, role: Role, repositories: [String: Role]? = nil) {
      self.name = name
      self.role = role
      self.repositories = repositories
    }
  }

  /// A new token: `secret` is the bearer token, shown only this once (the controller keeps its SHA-256).
  public struct NewToken: Codable, Sendable, Equatable {
    public var token: Token
    public var secret: String

    public init(token: Token, secret: String) {
      self.token = token
      self.secret = secret
    }
  }

  /// `POST /api/v1/enrollment-tokens`: a bootstrap credential for new devices.
  public struct CreateEnrollmentToken: Codable, Sendable, Equatable {
    /// Pre-registers this device id: its request is approved at once. Without it, requests wait for an operator.
    public var device: String?
    /// How many devices may use it.
    public var uses: Int
    /// Seconds it stays valid.
    public var validFor: Int

    public init(device: String? = nil, uses: Int = 1, validFor: Int = 86400) {
      self.device = device
      self.uses = uses
      self.validFor = validFor
    }

    /// `uses` and `validFor` may be left out (1 use, a day), as documented.
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      device = try container.decodeIfPresent(String.self, forKey: .device)
      uses = try container.decodeIfPresent(Int.self, forKey: .uses) ?? 1
      validFor = try container.decodeIfPresent(Int.self, forKey: .validFor) ?? 86400
    }
  }

  /// A bootstrap token; `secret` is shown only this once.
  public struct EnrollmentToken: Codable, Sendable, Equatable {
    public var secret: String
    public var device: String?
    public var uses: Int
    public var expiresAt: Date

    public init(secret: String, device: String?, uses: Int, expiresAt: Date) {
      self.secret = secret
      self.device = device
      self.uses = uses
      self.expiresAt = expiresAt
    }
  }

  /// `POST /enroll`: a device's certificate signing request (its private key stays on the device).
  public struct EnrollmentRequest: Codable, Sendable, Equatable {
    public var device: String
    public var csr: String

    public init(device: String, csr: String) {
      self.device = device
      self.csr = csr
    }
  }

  /// Where a device's enrollment stands; `certificate` once it is issued.
  public struct Enrollment: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case pending, issued, rejected }
    public var device: String
    public var status: Status
    public var certificate: String?
    public var serial: String?
    public var requestedAt: Date
    public var decidedBy: String?
    /// The id belongs to a device the controller already knows (it checked in, or holds a certificate):
    /// approving needs `replace`, which revokes its current certificates. Nil: a new id.
    public var knownDevice: KnownDevice?

    /// What the controller knows of an id a request asks for.
    public struct KnownDevice: Codable, Sendable, Equatable {
      public var online: Bool
      public var lastSeen: Date?
      /// Certificates it holds now (not revoked).
      public var certificates: Int

      public init(online: Bool, lastSeen: Date?, certificates: Int) {
        self.online = online
        self.lastSeen = lastSeen
        self.certificates = certificates
      }
    }

    public init(
      device: String, status: Status, certificate: String? = nil, serial: String? = nil, requestedAt: Date,
      decidedBy: String? = nil, knownDevice: KnownDevice? = nil
    ) {
      self.knownDevice = knownDevice
      self.device = device
      self.status = status
      self.certificate = certificate
      self.serial = serial
      self.requestedAt = requestedAt
      self.decidedBy = decidedBy
    }
  }

  /// One operator write: who, what, when, and how it ended.
  public struct AuditEntry: Codable, Sendable, Equatable {
    public var at: Date
    /// `cert:NAME` for a certificate operator, `token:NAME` for a token.
    public var actor: String
    public var method: String
    public var path: String
    public var status: Int

    public init(at: Date, actor: String, method: String, path: String, status: Int) {
      self.at = at
      self.actor = actor
      self.method = method
      self.path = path
      self.status = status
    }
  }

  /// `POST /api/v1/devices/{id}/revoke`: what was revoked.
  public struct Revocation: Codable, Sendable, Equatable {
    public var device: String
    /// Serial numbers (hex) of the device's certificates now on the revocation list.
    public var serials: [String]
    public var revokedAt: Date
    public var reason: String?
    /// The CRL file the broker reads.
    public var crlFile: String

    public init(device: String, serials: [String], revokedAt: Date, reason: String?, crlFile: String) {
      self.device = device
      self.serials = serials
      self.revokedAt = revokedAt
      self.reason = reason
      self.crlFile = crlFile
    }
  }
}

extension API {
  /// `POST /api/v1/device/certificate`: a CSR for a key the device made, CN = its id.
  public struct CertificateRequest: Codable, Sendable, Equatable {
    public var csr: String

    public init(csr: String) { self.csr = csr }
  }

  /// The renewed certificate (PEM), its serial (hex) and when it expires.
  public struct RenewedCertificate: Codable, Sendable, Equatable {
    public var certificate: String
    public var serial: String
    public var expires: Date

    public init(certificate: String, serial: String, expires: Date) {
      self.certificate = certificate
      self.serial = serial
      self.expires = expires
    }
  }
}
