import AirliftCore
import ArgumentParser
import Foundation

struct Release: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Upload and list releases.", subcommands: [Upload.self, List.self])

  struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Upload a release: package, SemVer version, one file.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Package name.") var package: String
    @Argument(help: "SemVer 2.0 version, e.g. 1.2.0.") var version: String
    @Argument(help: "The artifact (for the script handler: a tar bundle with an 'install' script).")
    var file: String
    @Option(help: "Install handler.") var handler = "script"

    func validate() throws {
      do {
        try Names.validatePackage(package)
        _ = try SemanticVersion(version)
      } catch {
        throw ValidationError(error.description)
      }
    }

    func run() async throws {
      let release = try await connection.withClient {
        try await $0.uploadRelease(package: package, version: version, file: file, handler: handler)
      }
      if connection.json { return print(Output.json(release)) }
      for asset in release.assets {
        print(
          "uploaded \(release.package)@\(release.version): \(asset.name), \(asset.size) bytes, sha256 \(asset.sha256)")
      }
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
          ["PACKAGE", "VERSION", "HANDLER", "SIZE", "CREATED"],
          releases.map {
            [$0.package, $0.version, $0.handler, "\($0.assets.reduce(0) { $0 + $1.size })", Output.date($0.createdAt)]
          }))
    }
  }
}
