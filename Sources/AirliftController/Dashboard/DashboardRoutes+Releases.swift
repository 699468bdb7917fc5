import AirliftCore
import Foundation
import Hummingbird
import NIOCore

/// The releases page: versions by package, their tags, assets, metadata documents and signatures.
extension DashboardRoutes {
  struct ReleasesView {
    struct Asset {
      var name: String
      var size: String
      var sha256: String
      var short: String
    }
    struct Metadata {
      var name: String
      var kind: String
      var size: String
      var link: String
    }
    struct Signature {
      var key: String
      var expires: String
      var downgrade: Bool
    }
    struct Version {
      var ref: String
      var version: String
      var handler: String
      var assets: [Asset]
      var metadata: [Metadata]
      var signature: Signature?
      var created: String
    }
    struct Package {
      var name: String
      var tags: [API.Tag]
      var versions: [Version]
    }
    var packages: [Package]
  }

  @Sendable func releases(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let all = try await store.releases()
    let byPackage = Dictionary(grouping: all, by: \.package)
    var tags: [String: [API.Tag]] = [:]
    for name in byPackage.keys { tags[name] = try await store.tags(package: name) }
    let packages = byPackage.keys.sorted().map { name in
      let versions = (byPackage[name] ?? []).sorted { a, b in
        guard let va = try? SemanticVersion(a.version), let vb = try? SemanticVersion(b.version) else {
          return a.version > b.version
        }
        return va > vb
      }
      return ReleasesView.Package(
        name: name, tags: tags[name] ?? [],
        versions: versions.map { release in
          ReleasesView.Version(
            ref: "\(release.package)@\(release.version)", version: release.version, handler: release.handler,
            assets: release.assets.map {
              .init(
                name: $0.name, size: DashboardFormat.bytes($0.size), sha256: $0.sha256,
                short: String($0.sha256.prefix(12)))
            },
            metadata: (release.metadata ?? []).map {
              .init(
                name: $0.name, kind: $0.kind.rawValue, size: DashboardFormat.bytes(Int64($0.size)),
                link:
                  "/ui/releases/\(release.package.urlPathSegment)/\(release.version.urlPathSegment)/metadata/\($0.name.urlPathSegment)"
              )
            },
            signature: release.signature.map { .init(key: $0.key, expires: $0.expires, downgrade: $0.downgrade) },
            created: DashboardFormat.time(release.createdAt))
        })
    }
    return renderer.page(
      "releases", layout: layout("Releases", page: "releases", context: context),
      view: ReleasesView(packages: packages))
  }

  /// A metadata document as attached (JSON; the browser shows it as text).
  @Sendable func releaseMetadata(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let ref = ReleaseRef(
      package: try context.pathParameter("package"), version: try context.pathParameter("version"))
    let document = try await store.metadata(ref, name: try context.pathParameter("name"))
    return Response(
      status: .ok, headers: [.contentType: "application/json", .contentSecurityPolicy: "default-src 'none'"],
      body: .init(byteBuffer: ByteBuffer(bytes: document)))
  }
}
