import AirliftCore
import Foundation
import Subprocess

/// The container engine as the `compose` handler uses it: the docker CLI
/// and Compose, always called with argument lists (names come from the
/// signed manifest and the config, never through a shell).
struct ComposeEngine: Sendable {
  let docker: String
  let composeCommand: [String]?
  let environment: [String: String]
  /// The engine's API, for pulls with byte progress (nil: a TCP engine; the CLI pulls).
  let api: EngineAPI?

  init(_ config: ComposeConfig) {
    docker = config.docker ?? "docker"
    composeCommand = config.command
    environment = config.dockerHost.map { ["DOCKER_HOST": $0] } ?? [:]
    api = EngineAPI(dockerHost: config.dockerHost)
  }

  /// One container of a Compose project, as the engine reports it.
  struct Container: Sendable, Equatable {
    var id: String
    var name: String
    var image: String
    /// running, exited, restarting, created …
    var status: String
    /// healthy, unhealthy, starting, or "" without a health check.
    var health: String
    var exitCode: Int
  }

  private func dockerCommand(_ role: String = "docker") -> LocalCommand {
    LocalCommand(role: role, argv: [docker])
  }

  /// Whether the engine has the image with this id.
  func hasImage(_ id: String) async -> Bool {
    (try? await dockerCommand().run(["image", "inspect", "--format", "{{.Id}}", id], environment: environment))?
      .succeeded == true
  }

  /// The id of the image a reference (tag or digest) names on the engine.
  func imageID(of reference: String) async -> String? {
    guard
      let outcome = try? await dockerCommand().run(
        ["image", "inspect", "--format", "{{.Id}}", reference], environment: environment),
      outcome.succeeded
    else { return nil }
    return outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Pulls an image pinned by digest (`registry/app@sha256:…`): the engine
  /// checks the digest and fetches only the layers it lacks. Through the
  /// engine's API when it has a socket (byte progress), else the CLI.
  func pull(_ reference: String, progress: @escaping @Sendable (ImagePullProgress) -> Void) async throws
    -> ImagePullProgress
  {
    if let api { return try await api.pull(reference, timeout: .seconds(1800), progress: progress) }
    try await dockerCommand("docker pull").check(["pull", reference], environment: environment, timeout: 1800)
    return ImagePullProgress()
  }

  /// Loads a `docker save` archive.
  func load(_ archive: String) async throws {
    try await dockerCommand("docker load").check(["load", "--input", archive], environment: environment, timeout: 600)
  }

  /// The images a `docker save` archive holds, from its manifest.json.
  func images(inArchive archive: String) async throws -> [DockerArchive.Image] {
    let result = try await Subprocess.run(
      .name("tar"), arguments: ["-xOf", archive, "manifest.json"], output: .bytes(limit: 1 << 20),
      error: .string(limit: 4096))
    guard result.terminationStatus.isSuccess else {
      throw AgentError.bundle(
        reason: "\(archive) is not a docker save archive (tar: \(BundleArchive.lastLine(result.standardError) ?? "?"))")
    }
    return try DockerArchive.images(manifestJSON: result.standardOutput, archive: archive)
  }

  /// Removes an image no kept app version uses (a failure is not an error: it may be in use elsewhere).
  func removeImage(_ id: String) async {
    _ = try? await dockerCommand().run(["image", "rm", id], environment: environment)
  }

  /// The file in an app's version folder that names the compose file a flow's compose step chose.
  static let chosenFileMarker = ".airlift-compose-file"

  /// Runs Compose for one project: `-p PROJECT -f DIR/docker-compose.yml --project-directory DIR ARGS`.
  func compose(
    project: String, directory: String, _ arguments: [String], parameters: [String: String] = [:],
    timeout: Double = 300
  ) async throws {
    let command = try await resolvedComposeCommand()
    // A version installed by a flow's compose step runs the file that step named (kept beside the bundle).
    let chosen = (try? String(contentsOfFile: "\(directory)/\(Self.chosenFileMarker)", encoding: .utf8))
      .map { [$0.trimmingCharacters(in: .whitespacesAndNewlines)] }
    let file = (chosen ?? ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"])
      .map { "\(directory)/\($0)" }.first { FileManager.default.fileExists(atPath: $0) }
    guard let file else {
      throw AgentError.bundle(reason: "app '\(project)' has no docker-compose.yml (or compose.yaml) in its bundle")
    }
    try await LocalCommand(role: "compose (\(project))", argv: command).check(
      ["-p", project, "-f", file, "--project-directory", directory] + arguments,
      environment: environment.merging(parameters) { engine, _ in engine }, timeout: timeout)
  }

  /// The containers of a Compose project, running or not.
  func containers(project: String) async throws -> [Container] {
    let list = try await dockerCommand().check(
      ["ps", "--all", "--quiet", "--no-trunc", "--filter", "label=com.docker.compose.project=\(project)"],
      environment: environment)
    let ids = list.standardOutput.split(whereSeparator: \.isNewline).map(String.init)
    guard !ids.isEmpty else { return [] }
    let inspected = try await dockerCommand().check(
      ["inspect", "--format", "{{.Id}}\t{{.Name}}\t{{.Image}}\t{{json .State}}"] + ids, environment: environment)
    return inspected.standardOutput.split(whereSeparator: \.isNewline).compactMap { line in
      let fields = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
      guard fields.count == 4, let state = try? JSONDecoder().decode(State.self, from: Data(fields[3].utf8)) else {
        return nil
      }
      return Container(
        id: fields[0], name: String(fields[1].drop { $0 == "/" }), image: fields[2], status: state.status,
        health: state.health?.status ?? "", exitCode: state.exitCode)
    }
  }

  /// The part of `docker inspect`'s State the handler reads (Health only with a health check).
  private struct State: Decodable {
    struct Health: Decodable {
      var status: String
      enum CodingKeys: String, CodingKey { case status = "Status" }
    }
    var status: String
    var exitCode: Int
    var health: Health?

    enum CodingKeys: String, CodingKey {
      case status = "Status"
      case exitCode = "ExitCode"
      case health = "Health"
    }
  }

  /// The last lines a container wrote, to say why it stopped.
  func lastLog(_ container: String) async -> String {
    guard let outcome = try? await dockerCommand().run(["logs", "--tail", "3", container], environment: environment)
    else { return "" }
    return outcome.message
  }

  /// `docker compose` when the plugin answers, else `docker-compose`.
  private func resolvedComposeCommand() async throws -> [String] {
    if let composeCommand, !composeCommand.isEmpty { return composeCommand }
    if (try? await dockerCommand().run(["compose", "version"], environment: environment, timeout: 20))?.succeeded
      == true
    {
      return [docker, "compose"]
    }
    return ["docker-compose"]
  }
}
