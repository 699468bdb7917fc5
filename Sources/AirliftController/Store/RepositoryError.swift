import AirliftCore
import Foundation

/// Why a repository, a draft version or a repository-limited caller was refused; each with a stable API code.
public enum RepositoryError: Error, Equatable, Sendable, CustomStringConvertible {
  case notFound(String)
  case exists(String)
  case notEmpty(String, releases: Int)
  case defaultKept
  case sealed(ReleaseRef, at: Date)
  case assetExists(ReleaseRef, name: String)
  /// A repository-limited operator token asked for more than it has in a repository.
  case forbidden(actor: String, repository: String, needs: API.Role, has: API.Role?)
  /// A repository-limited token asked for something only a token with no repository limit may do.
  case fleetWide(actor: String)
  /// A device asked for a release of a repository it may not read.
  case deviceForbidden(device: String, repository: String)
  /// Devices a deployment names that may not read the release's repository.
  case devicesWithoutAccess(ReleaseRef, devices: [String])

  public var code: String {
    switch self {
    case .notFound: "repository_not_found"
    case .exists: "repository_exists"
    case .notEmpty: "repository_not_empty"
    case .defaultKept: "default_repository"
    case .sealed: "release_sealed"
    case .assetExists: "asset_exists"
    case .forbidden, .fleetWide: "repository_forbidden"
    case .deviceForbidden: "repository_forbidden"
    case .devicesWithoutAccess: "repository_forbidden"
    }
  }

  /// The HTTP status the API answers with.
  public var status: Int {
    switch self {
    case .notFound: 404
    case .exists, .notEmpty, .defaultKept, .sealed, .assetExists, .devicesWithoutAccess: 409
    case .forbidden, .fleetWide, .deviceForbidden: 403
    }
  }

  public var description: String {
    switch self {
    case .notFound(let name):
      return "no repository '\(name)'; `airlift repo list` shows them, `airlift repo create \(name)` makes it"
    case .exists(let name):
      return "repository '\(name)' exists already"
    case .notEmpty(let name, let releases):
      return
        "repository '\(name)' holds \(releases) version(s), which deployments and devices may still name; it can be deleted only when empty"
    case .defaultKept:
      return "the default repository holds the packages named without a repository; it cannot be deleted"
    case .sealed(let ref, let at):
      return
        "\(ref) was sealed at \(at.formatted(.iso8601)) (deployed, tagged, given a policy, signed or sealed by hand), so its assets are fixed; publish a new version"
    case .assetExists(let ref, let name):
      return "\(ref) has an asset named '\(name)' already"
    case .forbidden(let actor, let repository, let needs, let has):
      let granted = has.map { "is \($0.rawValue) there" } ?? "has no access to it"
      return "operator '\(actor)' \(granted); this needs \(needs.rawValue) in repository '\(repository)'"
    case .fleetWide(let actor):
      return
        "operator '\(actor)' is limited to some repositories; this needs a token or certificate without a repository limit"
    case .deviceForbidden(let device, let repository):
      return
        "device '\(device)' may not read repository '\(repository)'; an operator can allow it: airlift device repos \(device) --allow \(repository)"
    case .devicesWithoutAccess(let ref, let devices):
      return
        "\(devices.count) device(s) of the target may not read repository '\(Names.repository(of: ref.package))' of \(ref): \(shortList(devices)); allow them (airlift device repos ID --allow REPO) or leave them out"
    }
  }
}
