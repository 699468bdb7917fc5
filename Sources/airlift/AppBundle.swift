import AirliftCore
import ArgumentParser
import Foundation

/// A compose app bundle given to `airlift release create --app
/// NAME@VERSION=FILE`: a tar (or tar.gz) with the app's compose file at its root and
/// its images as `docker save` archives under `images/`. The CLI reads each
/// archive's image ids so the signed manifest lists them.
struct AppBundle {
  let name: String
  let version: String
  let file: String

  /// Upload a gzip bundle as given instead of as the plain tar inside it.
  var keepCompressed = false

  /// Whether the file starts with gzip's magic bytes.
  var isGzip: Bool {
    guard let handle = FileHandle(forReadingAtPath: file) else { return false }
    defer { try? handle.close() }
    return (try? handle.read(upToCount: 2)) == Data([0x1f, 0x8b])
  }

  /// The asset name the bundle gets in the release: a gzip bundle is uploaded as the plain tar inside it (unless
  /// `keepCompressed`), so the next version of the app travels as a delta — a changed compose file beside the same
  /// images costs a few chunks, where a compressed stream would differ from the change to its end.
  var assetName: String { isGzip && keepCompressed ? "app-\(name).tar.gz" : "app-\(name).tar" }

  /// The file to upload: the bundle, or the plain tar inside a gzip bundle, written into `folder`.
  func uploadFile(in folder: String) throws -> String {
    guard isGzip, !keepCompressed else { return file }
    let output = "\(folder)/\(assetName)"
    guard FileManager.default.createFile(atPath: output, contents: nil),
      let sink = FileHandle(forWritingAtPath: output)
    else { throw ValidationError("cannot write \(output)") }
    defer { try? sink.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip", "-dc", file]
    process.standardOutput = sink
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw ValidationError("could not decompress \(file): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
    return output
  }

  init(argument: String, keepCompressed: Bool = false) throws {
    self.keepCompressed = keepCompressed
    guard let at = argument.firstIndex(of: "@"), let equals = argument.firstIndex(of: "="), at < equals else {
      throw ValidationError("--app takes NAME@VERSION=FILE (e.g. web@1.4.0=web.tar.gz), not '\(argument)'")
    }
    name = String(argument[..<at])
    version = String(argument[argument.index(after: at)..<equals])
    file = String(argument[argument.index(after: equals)...])
  }

  /// Reads the bundle: its compose file must be there, and every image archive must carry a tag.
  func describe() throws -> ReleaseApp {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("airlift-app-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    _ = try Self.run(["tar", "-xf", file, "-C", scratch], what: "unpack \(file)")
    let composeFiles = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
    guard composeFiles.contains(where: { FileManager.default.fileExists(atPath: "\(scratch)/\($0)") }) else {
      throw ValidationError("app bundle \(file) has no docker-compose.yml (or compose.yaml) at its root")
    }
    var images: [ReleaseApp.Image] = []
    let folder = "\(scratch)/images"
    for archive in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    where archive.hasSuffix(".tar") {
      let manifest = try Self.run(["tar", "-xOf", "\(folder)/\(archive)", "manifest.json"], what: "read \(archive)")
      for image in try DockerArchive.images(manifestJSON: Array(manifest), archive: archive) {
        guard let tag = image.tags.first else {
          throw ValidationError(
            "\(file): images/\(archive) holds an untagged image \(image.id); tag it and `docker save` it by name")
        }
        images.append(ReleaseApp.Image(reference: tag, id: image.id))
      }
    }
    // Images the compose file pins by digest come from a registry: their ids come from this machine's engine.
    for reference in Self.imageReferences(inComposeAt: scratch)
    where !images.contains(where: { $0.reference == reference }) {
      guard reference.contains("@sha256:") else {
        throw ValidationError(
          "\(file): the compose file runs \(reference), which is neither in images/ nor pinned by digest (image@sha256:…)"
        )
      }
      let id: String
      do {
        id = String(
          decoding: try Self.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", reference], what: "inspect \(reference)"),
          as: UTF8.self
        ).trimmingCharacters(in: .whitespacesAndNewlines)
      } catch {
        throw ValidationError(
          "\(error); pull it on this machine first (docker pull \(reference)) so its image id is signed")
      }
      images.append(ReleaseApp.Image(reference: reference, id: id))
    }
    let app = ReleaseApp(name: name, version: version, asset: assetName, images: images)
    do { try app.validate() } catch { throw ValidationError("--app \(name)@\(version): \(error)") }
    return app
  }

  /// The `image:` values of the compose file at the bundle's root (a line scan: one image per line).
  static func imageReferences(inComposeAt folder: String) -> [String] {
    let names = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
    guard let file = names.first(where: { FileManager.default.fileExists(atPath: "\(folder)/\($0)") }),
      let text = try? String(contentsOfFile: "\(folder)/\(file)", encoding: .utf8)
    else { return [] }
    var references: [String] = []
    for line in text.split(whereSeparator: \.isNewline) {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      guard trimmed.hasPrefix("image:") else { continue }
      let value = trimmed.dropFirst("image:".count).split(separator: "#").first ?? ""
      let reference = value.trimmingCharacters(in: CharacterSet(charactersIn: " \"'"))
      if !reference.isEmpty && !references.contains(reference) { references.append(reference) }
    }
    return references
  }

  /// Runs a program with an argument list (no shell); returns its standard output.
  private static func run(_ argv: [String], what: String) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = argv
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw ValidationError("could not \(what): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
    return data
  }
}
