import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

struct Release: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Publish and inspect releases.",
    subcommands: [
      Create.self, Upload.self, AddAsset.self, Seal.self, Resolve.self, Sign.self, List.self, Show.self,
      Estimate.self, Policy.self, Attach.self, Meta.self, Delete.self,
    ])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create a release: upload its assets, create the version, then move --tag last.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Package name: NAME, or REPO/NAME for a package of repository REPO.") var package: String
    @Argument(help: "SemVer 2.0 version, e.g. 1.2.0 or 2.0.0-rc.1.") var version: String
    @Option(name: .customLong("asset"), help: "An asset file (repeatable); NAME=FILE to name it.")
    var assets: [String] = []
    @Option(
      name: .customLong("app"),
      help: "A compose app (repeatable): NAME@VERSION=FILE, a tar or tar.gz with its compose file and images/*.tar.")
    var apps: [String] = []
    @Flag(help: "Upload gzip --app bundles as given (by default the plain tar inside is uploaded, for deltas).")
    var keepCompressed = false
    @Option(help: "Install handler (default: script, or compose with --app).") var handler: String?
    @Option(name: .customLong("param"), help: "A default handler parameter, KEY=VALUE (repeatable).")
    var parameters: [String] = []
    @Option(name: .customLong("meta"), help: "A metadata document, NAME=FILE.json (sbom, build, …; repeatable).")
    var metadata: [String] = []
    @Option(name: .customLong("tag"), help: "Tags to point at it once created (repeatable).") var tags: [String] = []
    @Flag(help: "Make the --tag tags locked (never move again).") var locked = false
    @Option(
      name: .customLong("compatible"),
      help: "Hardware it is for (repeatable), matched against each agent's compatible; signed with the release.")
    var compatible: [String] = []
    @OptionGroup var signing: SigningOptions

    func validate() throws {
      guard !assets.isEmpty || !apps.isEmpty else { throw ValidationError("give at least one --asset FILE or --app") }
      for app in apps { _ = try AppBundle(argument: app) }
      do {
        try Names.validatePackage(package)
        _ = try SemanticVersion(version)
        for tag in tags { try Names.validateTag(tag) }
        for name in compatible { try Names.validateTag(name) }
      } catch {
        throw ValidationError(error.description)
      }
      _ = try KeyValues.parse(parameters)
      _ = try Attach.documents(metadata)
    }

    func run() async throws {
      let documents = try Attach.documents(metadata)
      let release = try await connection.withClient { client in
        var files = assets.map(Self.split)
        var described: [ReleaseApp] = []
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
          "airlift-upload-\(UUID().uuidString)"
        )
        .path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for argument in apps {
          let bundle = try AppBundle(argument: argument, keepCompressed: keepCompressed)
          described.append(try bundle.describe())
          files.append((bundle.assetName, try bundle.uploadFile(in: scratch)))
        }
        var refs: [API.CreateRelease.AssetRef] = []
        for (name, file) in files {
          let blob = try await client.uploadBlob(file: file, progress: ProgressBar.upload(name))
          ProgressBar.finish()
          refs.append(.init(name: name, sha256: blob.sha256))
        }
        var release = try await client.createRelease(
          .init(
            package: package, version: version, handler: handler ?? (apps.isEmpty ? "script" : "compose"),
            parameters: try KeyValues.parse(parameters), assets: refs, apps: described.isEmpty ? nil : described,
            compatible: compatible.isEmpty ? nil : compatible))
        if let key = try signing.loadKey() {
          release = try await client.signRelease(
            package: package, version: release.version, key: key, expires: try signing.expiryDate())
        }
        for (name, document) in documents {
          let attached = try await client.attachMetadata(
            package: package, version: release.version, name: name, document: document)
          release.metadata = (release.metadata ?? []) + [attached]
        }
        for tag in tags {
          _ = try await client.setTag(package: package, tag: tag, version: release.version, locked: locked)
          release.tags.append(tag)
        }
        return release
      }
      if connection.json { return print(Output.json(release)) }
      print(Show.render(release))
    }

    static func split(_ asset: String) -> (String, String) {
      if let equals = asset.firstIndex(of: "="), !asset[..<equals].contains("/") {
        return (String(asset[..<equals]), String(asset[asset.index(after: equals)...]))
      }
      return (URL(fileURLWithPath: asset).lastPathComponent, asset)
    }
  }

  struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Shorthand for a one-asset `release create`.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Package name.") var package: String
    @Argument(help: "SemVer 2.0 version.") var version: String
    @Argument(help: "The artifact (for the script handler: a tar bundle with an 'install' script).")
    var file: String
    @Option(help: "Install handler.") var handler = "script"
    @OptionGroup var signing: SigningOptions

    func run() async throws {
      var create = try Create.parse([package, version, "--asset", file, "--handler", handler])
      create.connection = connection
      create.signing = signing
      try await create.run()
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List releases, newest version first.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Only this package.") var package: String?

    func run() async throws {
      let releases = try await connection.withClient { try await $0.releases(package: package) }
      if connection.json { return print(Output.json(releases)) }
      print(
        Output.table(
          ["PACKAGE", "VERSION", "HANDLER", "ASSETS", "SIZE", "TAGS", "SIGNED UNTIL", "CREATED"],
          releases.map {
            [
              $0.package, $0.version, $0.handler, "\($0.assets.count)",
              Output.bytes($0.assets.reduce(0) { $0 + $1.size }), $0.tags.joined(separator: ","),
              $0.signature.map { $0.expires + ($0.downgrade ? " (downgrade)" : "") } ?? "unsigned",
              Output.date($0.createdAt),
            ]
          }))
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a release's manifest: PKG@VERSION.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The release, as PACKAGE@VERSION.") var release: String

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      let found = try await connection.withClient { try await $0.release(package: package, version: version) }
      if connection.json { return print(Output.json(found)) }
      print(Self.render(found))
    }

    static func render(_ release: API.Release) -> String {
      var lines = [
        "\(release.package)@\(release.version)  handler \(release.handler)  created \(Output.date(release.createdAt))"
      ]
      if !release.tags.isEmpty { lines.append("tags: \(release.tags.joined(separator: ", "))") }
      if let compatible = release.compatible, !compatible.isEmpty {
        lines.append("compatible: \(compatible.sorted().joined(separator: ", ")) (only devices with this compatible)")
      }
      lines.append(Self.signatureLine(release))
      lines.append(
        release.sealedAt.map { "sealed \(Output.date($0)): its assets are fixed" }
          ?? "draft: assets may still be added (airlift release add-asset); sealed on first deploy, tag or signature")
      if !release.parameters.isEmpty {
        lines.append(
          "parameters: "
            + release.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            .joined(separator: " "))
      }
      lines.append(
        Output.table(
          ["ASSET", "SIZE", "SHA-256", "DELTA INDEX"],
          release.assets.map {
            [
              $0.name, Output.bytes($0.size), $0.sha256,
              ($0.index.map { "\($0.chunks) chunks, \(Output.bytes($0.size))" } ?? "none")
                + ($0.pack.map { "; pack \(Output.bytes($0.size))" } ?? ""),
            ]
          }))
      if let metadata = release.metadata, !metadata.isEmpty {
        lines.append(
          Output.table(
            ["METADATA", "KIND", "SIZE", "SHA-256"],
            metadata.map { [$0.name, $0.kind.rawValue, Output.bytes(Int64($0.size)), $0.sha256] }))
      }
      if let apps = release.apps, !apps.isEmpty {
        lines.append(
          Output.table(
            ["APP", "VERSION", "BUNDLE", "IMAGES"],
            apps.map { app in
              [
                app.name, app.version, app.asset,
                app.images.map { "\($0.reference) \($0.id.prefix(19))" }.joined(separator: ", "),
              ]
            }))
      }
      return lines.joined(separator: "\n")
    }
  }
}

struct Tag: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Name versions: locked tags never move, floating tags (stable, beta) move atomically.",
    subcommands: [Set.self, List.self])

  struct Set: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Point a tag at a version.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Package name.") var package: String
    @Argument(help: "Tag name, e.g. stable or v2.1.0.") var tag: String
    @Argument(help: "Version to point at.") var version: String
    @Flag(help: "Bind the tag to this version forever.") var locked = false

    func run() async throws {
      let result = try await connection.withClient {
        try await $0.setTag(package: package, tag: tag, version: version, locked: locked)
      }
      if connection.json { return print(Output.json(result)) }
      print("\(result.package):\(result.name) -> \(result.version)\(result.locked ? " (locked)" : "")")
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a package's tags.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Package name.") var package: String

    func run() async throws {
      let tags = try await connection.withClient { try await $0.tags(package: package) }
      if connection.json { return print(Output.json(tags)) }
      print(
        Output.table(
          ["TAG", "VERSION", "KIND", "UPDATED"],
          tags.map { [$0.name, $0.version, $0.locked ? "locked" : "floating", Output.date($0.updatedAt)] }))
    }
  }
}

/// `PACKAGE@VERSION` and `PACKAGE:TAG`.
enum ReleaseName {
  static func parse(_ text: String) throws -> (String, String) {
    let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
      throw ValidationError("give the release as PACKAGE@VERSION, got '\(text)'")
    }
    return (parts[0], parts[1])
  }
}

/// `KEY=VALUE` options.
enum KeyValues {
  static func parse(_ pairs: [String]) throws -> [String: String] {
    var values: [String: String] = [:]
    for pair in pairs {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("'\(pair)' must be KEY=VALUE") }
      values[parts[0]] = parts[1]
    }
    return values
  }
}

extension Release {
  struct Policy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Set a release's distribution policy: idle devices on an older version that match are offered it.",
      discussion: """
        When a device that runs the package has nothing to do, the controller offers it the newest release with a \
        policy it matches that is newer than what it runs — now, and at each check-in.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "PACKAGE@VERSION") var release: String
    @Argument(help: "A policy expression (see the README), e.g. 'region == \"eu\"'.") var policy: String?
    @Flag(help: "Remove the policy.") var clear = false

    func validate() throws {
      _ = try ReleaseName.parse(release)
      guard clear != (policy != nil) else { throw ValidationError("give a policy expression, or --clear") }
      if let policy {
        do { _ = try PolicyExpression(policy) } catch { throw ValidationError("\(error)\n\(error.pointer)") }
      }
    }

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      let result = try await connection.withClient {
        try await $0.setReleasePolicy(package: package, version: version, policy: clear ? nil : policy)
      }
      if connection.json { return print(Output.json(result)) }
      print("\(result.package)@\(result.version): " + (result.policy.map { "policy \($0)" } ?? "no policy"))
    }
  }
}
