import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

extension Release {
  struct Attach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Attach metadata documents to a version: PKG@VERSION NAME=FILE.json ...",
      discussion: """
        `sbom` must be SPDX or CycloneDX JSON; `build` a JSON object (commit, pipeline, time, …); any other name \
        any JSON. A document is immutable once attached: the same bytes again are accepted, others refused.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The release, as PACKAGE@VERSION.") var release: String
    @Argument(help: "NAME=FILE (repeatable).") var documents: [String]

    func validate() throws {
      _ = try ReleaseName.parse(release)
      _ = try Self.documents(documents)
    }

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      let files = try Self.documents(documents)
      let attached = try await connection.withClient { client in
        var attached: [API.MetadataDocument] = []
        for (name, document) in files {
          attached.append(
            try await client.attachMetadata(package: package, version: version, name: name, document: document))
        }
        return attached
      }
      if connection.json { return print(Output.json(attached)) }
      for document in attached {
        print("attached \(document.name) (\(document.kind.rawValue), \(document.size) bytes) to \(release)")
      }
    }

    /// `NAME=FILE` pairs read and checked here, so a bad file fails before anything is uploaded.
    static func documents(_ pairs: [String]) throws -> [(String, [UInt8])] {
      try pairs.map { pair in
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
          throw ValidationError("'\(pair)' must be NAME=FILE")
        }
        let name = String(pair[..<equals])
        let file = String(pair[pair.index(after: equals)...])
        guard let data = FileManager.default.contents(atPath: file) else {
          throw ValidationError("cannot read \(file) (metadata '\(name)')")
        }
        do {
          _ = try ReleaseMetadata.classify(name: name, document: Array(data))
        } catch {
          throw ValidationError("\(file): \(error)")
        }
        return (name, Array(data))
      }
    }
  }

  struct Meta: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print a metadata document of a version: PKG@VERSION NAME.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The release, as PACKAGE@VERSION.") var release: String
    @Argument(help: "The document's name.") var name: String

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      let document = try await connection.withClient {
        try await $0.metadata(package: package, version: version, name: name)
      }
      FileHandle.standardOutput.write(Data(document))
      if document.last != UInt8(ascii: "\n") { print() }
    }
  }
}
