import AirliftAgent
import AirliftCore
import ArgumentParser
import Foundation

/// Commands for scripts on the device: they ask the controller with the device's certificate.
extension AirliftAgentCommand {
  struct Metadata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print a metadata document of a version (sbom, build, …): PKG[@VERSION] NAME.",
      discussion: "Without @VERSION, the version of the package this device runs.")
    @Option(help: "Agent config (JSON).") var config: String
    @Argument(help: "PACKAGE@VERSION, or PACKAGE for the installed version.") var release: String
    @Argument(help: "The document's name (sbom, build, …).") var name: String

    func run() async throws {
      let settings = try AgentConfig.load(path: config)
      let (package, version) = try Self.resolve(release, settings)
      do {
        let document = try await DeviceAPI(config: settings).metadata(package: package, version: version, name: name)
        FileHandle.standardOutput.write(Data(document))
        if document.last != UInt8(ascii: "\n") { print() }
      } catch {
        print("error: \(error)")
        throw ExitCode(1)
      }
    }

    /// `PKG@VERSION`, or `PKG` and the version the agent's store records as installed.
    static func resolve(_ text: String, _ settings: AgentConfig) throws -> (String, String) {
      let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
      if parts.count == 2 { return (parts[0], parts[1]) }
      let path = "\(settings.dataDirectory)/agent.sqlite"
      guard FileManager.default.fileExists(atPath: path),
        let version = try? AgentStore(path: path).status(device: settings.deviceID).installed[text]
      else {
        throw ValidationError("\(text) is not installed on this device; give PACKAGE@VERSION")
      }
      return (text, version)
    }
  }

  struct AssetURL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "asset-url",
      abstract:
        "Print a short-lived URL of one asset of the version a tag names now, as JSON: PKG/TAG/ASSET (or REPO/PKG/TAG/ASSET).",
      discussion: """
        For scripts: `curl -fsSO "$(airlift-agent asset-url --config C app/stable/tool.tar.gz | jq -r .url)"`. \
        The link works for that asset only, without credentials, until "expires" (15 minutes by default).
        """)
    @Option(help: "Agent config (JSON).") var config: String
    @Argument(help: "PACKAGE/TAG/ASSET, or REPO/PACKAGE/TAG/ASSET.") var path: String

    func run() async throws {
      // Tags and asset names have no "/": four parts are REPO/PACKAGE/TAG/ASSET.
      let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
      guard parts.count == 3 || parts.count == 4, !parts.contains(where: \.isEmpty) else {
        throw ValidationError(
          "give PACKAGE/TAG/ASSET (REPO/PACKAGE/TAG/ASSET for a repository's package), e.g. app/stable/tool.tar.gz; got '\(path)'"
        )
      }
      do {
        let link = try await DeviceAPI(config: try AgentConfig.load(path: config)).assetLink(
          package: parts.dropLast(2).joined(separator: "/"), tag: parts[parts.count - 2], asset: parts[parts.count - 1])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(link), as: UTF8.self))
      } catch {
        print("error: \(error)")
        throw ExitCode(1)
      }
    }
  }
}
