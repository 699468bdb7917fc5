import Foundation

/// What a `docker save` archive holds, read from its `manifest.json`: each
/// image's id (`sha256:` + the digest of its config) and its tags. Shared by
/// the CLI (which lists the ids in the signed manifest) and the agent
/// (which loads only the images it lacks).
public enum DockerArchive {
  public struct Image: Sendable, Equatable {
    public var id: String
    public var tags: [String]

    public init(id: String, tags: [String]) {
      self.id = id
      self.tags = tags
    }
  }

  private struct Entry: Decodable {
    var config: String
    var repoTags: [String]?

    enum CodingKeys: String, CodingKey {
      case config = "Config"
      case repoTags = "RepoTags"
    }
  }

  /// Parses `manifest.json`: `[{"Config": "<hex>.json" or "blobs/sha256/<hex>", "RepoTags": [...]}]`.
  public static func images(manifestJSON: [UInt8], archive: String) throws(AirliftCoreError) -> [Image] {
    let entries: [Entry]
    do {
      entries = try JSONDecoder().decode([Entry].self, from: Data(manifestJSON))
    } catch {
      throw .malformedPayload(topic: archive, reason: "manifest.json is not a docker save manifest")
    }
    return try entries.map { entry throws(AirliftCoreError) in
      var name = Substring(entry.config.split(separator: "/").last ?? "")
      if name.hasSuffix(".json") { name = name.dropLast(5) }
      let id = "sha256:\(name)"
      guard ReleaseApp.isImageID(id) else {
        throw .malformedPayload(topic: archive, reason: "image config '\(entry.config)' is not named by its digest")
      }
      return Image(id: id, tags: entry.repoTags ?? [])
    }
  }
}
