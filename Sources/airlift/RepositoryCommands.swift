import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

/// Repositories: namespaces of packages (`acme/gw-fw`) that tokens and devices can be limited to.
struct Repo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Repositories of packages: create, list, show, delete.",
    discussion: """
      A package named REPO/NAME (acme/gw-fw) lives in repository REPO, which must exist first; a package named \
      without one (gw-fw) lives in the `default` repository, so names from before repositories keep working. \
      Limit a token with `airlift token create NAME --role deployer --repo acme`, a device with \
      `airlift device repos ID --allow acme`.
      """,
    subcommands: [Create.self, List.self, Show.self, Delete.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make a repository (admins).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Its name: lower-case letters, digits, '.', '_', '-'.") var name: String
    @Option(help: "What it holds.") var description: String?

    func run() async throws {
      let made = try await connection.withClient { try await $0.createRepository(name, description: description) }
      if connection.json { return print(Output.json(made)) }
      print("repository \(made.name) created; its packages are named \(made.name)/NAME")
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the repositories you may read.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let list = try await connection.withClient { try await $0.repositories() }
      if connection.json { return print(Output.json(list)) }
      print(
        Output.table(
          ["REPOSITORY", "PACKAGES", "VERSIONS", "CREATED", "DESCRIPTION"],
          list.map {
            [$0.name, "\($0.packages.count)", "\($0.releases)", Output.date($0.createdAt), $0.description]
          }))
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a repository and its packages.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
      let found = try await connection.withClient { try await $0.repository(name) }
      if connection.json { return print(Output.json(found)) }
      print("repository \(found.name)  created \(Output.date(found.createdAt))  by \(found.createdBy ?? "-")")
      if !found.description.isEmpty { print(found.description) }
      print("\(found.packages.count) package(s), \(found.releases) version(s)")
      for package in found.packages { print("  \(package)") }
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete an empty repository (admins).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
      try await connection.withClient { try await $0.deleteRepository(name) }
      if connection.json { return print(Output.json(["deleted": name])) }
      print("deleted repository \(name)")
    }
  }
}

extension Release {
  struct AddAsset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "add-asset",
      abstract: "Upload one more asset to a draft version (one not yet deployed, tagged, signed or sealed).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The release, as PACKAGE@VERSION.") var release: String
    @Argument(help: "The file; NAME=FILE to name it.") var asset: String

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      let (name, file) = Create.split(asset)
      let updated = try await connection.withClient { client in
        let blob = try await client.uploadBlob(file: file, progress: ProgressBar.upload(name))
        ProgressBar.finish()
        return try await client.addAsset(package: package, version: version, name: name, sha256: blob.sha256)
      }
      if connection.json { return print(Output.json(updated)) }
      print(Show.render(updated))
    }
  }

  struct Seal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fix a draft version's assets (deploying, tagging or signing it does this too).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The release, as PACKAGE@VERSION.") var release: String

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      let sealed = try await connection.withClient { try await $0.sealRelease(package: package, version: version) }
      if connection.json { return print(Output.json(sealed)) }
      print("\(sealed.package)@\(sealed.version) sealed at \(sealed.sealedAt.map(Output.date) ?? "-")")
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Delete a release no live deployment names and no device runs (admins).",
      discussion: """
        Its tags, its finished deployments' records and every blob no other release holds go with it (the files \
        too). A release in use is refused, naming the live deployments and the devices that run it.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The release, as PACKAGE@VERSION.") var release: String

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      let deleted = try await connection.withClient { try await $0.deleteRelease(package: package, version: version) }
      if connection.json { return print(Output.json(deleted)) }
      print(
        "deleted \(deleted.package)@\(deleted.version): \(deleted.blobs.count) blob(s), \(Output.bytes(deleted.bytes)) freed"
          + (deleted.tags.isEmpty ? "" : "; tags \(deleted.tags.joined(separator: ", "))")
          + (deleted.deployments.isEmpty ? "" : "; records of \(deleted.deployments.count) finished deployment(s)"))
    }
  }

  struct Resolve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version a tag names now: PACKAGE:TAG.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The tag, as PACKAGE:TAG (acme/gw-fw:stable).") var tag: String

    func run() async throws {
      let parts = tag.split(separator: ":", maxSplits: 1).map(String.init)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw ValidationError("give the tag as PACKAGE:TAG, got '\(tag)'")
      }
      let resolved = try await connection.withClient { try await $0.resolveTag(package: parts[0], tag: parts[1]) }
      if connection.json { return print(Output.json(resolved)) }
      print(resolved.version)
    }
  }
}

extension Device {
  struct Repos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Limit the repositories a device may read releases of (asset links, metadata, deployments).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The device id.") var device: String
    @Option(name: .customLong("allow"), help: "A repository it may read (repeatable); the list replaces the old one.")
    var allowed: [String] = []
    @Flag(help: "Lift the limit: it may read every repository.") var all = false

    func validate() throws {
      guard all != !allowed.isEmpty else { throw ValidationError("give --allow REPO (repeatable) or --all") }
    }

    func run() async throws {
      let set = try await connection.withClient {
        try await $0.setDeviceRepositories(device, all ? nil : allowed)
      }
      if connection.json { return print(Output.json(set)) }
      print(
        "\(set.device) may read "
          + (set.repositories.map { "repositories \($0.joined(separator: ", "))" } ?? "every repository"))
    }
  }
}
