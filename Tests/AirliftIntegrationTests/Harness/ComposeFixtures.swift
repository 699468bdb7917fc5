import AirliftClient
import AirliftCore
import Foundation
import Testing

@testable import AirliftAgent

/// The compose tests' fixtures: app bundles built on the test's engine,
/// releases that list their apps and images, deployments, and what the
/// engine says about an app's containers.
extension ComposeAppTests {
  /// Writes an app bundle: a compose file running `tag` with `command`, and
  /// the image saved under `images/`. Returns the bundle's path.
  static func bundle(
    _ engine: DockerEngine, in folder: String, app: String, version: String, tag: String,
    command: String = "cat /VERSION >> /data/log; exec sleep 100000", health: Bool = false,
    healthFile: String = "/VERSION", archive: Bool = true, extra: [String: String] = [:]
  ) throws -> String {
    let source = "\(folder)/\(app)-\(version)"
    try FileManager.default.createDirectory(atPath: "\(source)/images", withIntermediateDirectories: true)
    let healthcheck =
      health
      ? """
          healthcheck:
            test: ["CMD", "/bin/test", "-f", "\(healthFile)"]
            interval: 1s
            retries: 3

      """ : ""
    let compose = """
      version: "2.4"
      services:
        main:
          image: \(tag)
          command: ["/bin/sh", "-c", "\(command)"]
          network_mode: none
          stop_signal: SIGKILL
          volumes: ["data:/data"]
      \(healthcheck)volumes:
        data: {}

      """
    try compose.write(toFile: "\(source)/docker-compose.yml", atomically: true, encoding: .utf8)
    for (name, text) in extra { try text.write(toFile: "\(source)/\(name)", atomically: true, encoding: .utf8) }
    if archive { try engine.save([tag], to: "\(source)/images/\(app).tar") }
    let output = "\(folder)/\(app)-\(version).tar.gz"
    try Fleet.run("/usr/bin/env", ["tar", "-czf", output, "-C", source, "."])
    return output
  }

  /// Uploads a compose release made of `bundles` (app name, version, bundle, image tag → id).
  static func release(
    _ client: ControllerClient, version: String, apps: [(name: String, version: String, file: String, image: String)],
    ids: [String: String]
  ) async throws {
    var assets: [API.CreateRelease.AssetRef] = []
    var described: [ReleaseApp] = []
    for app in apps {
      let blob = try await client.uploadBlob(file: app.file)
      assets.append(.init(name: "app-\(app.name).tar.gz", sha256: blob.sha256))
      described.append(
        ReleaseApp(
          name: app.name, version: app.version, asset: "app-\(app.name).tar.gz",
          images: [.init(reference: app.image, id: try #require(ids[app.image]))]))
    }
    _ = try await client.createRelease(
      .init(package: "site", version: version, handler: "compose", assets: assets, apps: described))
  }

  /// Uploads a release, deploys it to `device` and waits until the deployment completes; returns its id.
  @discardableResult
  static func rollOut(
    _ client: ControllerClient, version: String, apps: [(name: String, version: String, file: String, image: String)],
    ids: [String: String], to device: String
  ) async throws -> String {
    try await release(client, version: version, apps: apps, ids: ids)
    let id = try await deploy(client, version, to: device)
    try await eventually("\(version) to complete on \(device)", within: 120) {
      try await client.deployment(id).status == .completed
    }
    return id
  }

  static func deploy(_ client: ControllerClient, _ version: String, to device: String) async throws -> String {
    let deployment = try await client.createDeployment(
      .init(package: "site", version: version, target: .init(devices: [device])))
    return deployment.id
  }

  /// The one container of an app's Compose project: id, image id, start time.
  static func container(_ engine: DockerEngine, app: String) throws -> (id: String, image: String, started: String) {
    let ids = try engine.docker(["ps", "--quiet", "--no-trunc", "--filter", "label=com.docker.compose.project=\(app)"])
      .split(whereSeparator: \.isNewline)
    guard ids.count == 1, let id = ids.first else { throw HarnessError.setup("\(app): running containers \(ids)") }
    let fields = try engine.docker(["inspect", "--format", "{{.Image}} {{.State.StartedAt}}", String(id)]).split(
      separator: " ")
    return (String(id), String(fields[0]), String(fields[1]))
  }

  static func withEngine(_ body: (DockerEngine, Fleet) async throws -> Void) async throws {
    let engine = try await DockerEngine.start()
    do {
      try await Fleet.with { fleet in try await body(engine, fleet) }
    } catch {
      await engine.stop()
      throw error
    }
    await engine.stop()
  }

  @discardableResult
  static func startAgent(_ fleet: Fleet, _ engine: DockerEngine, id: String, apps: [String]? = nil) async throws
    -> Agent
  {
    var config = try fleet.agentConfig(id)
    config.compose = ComposeConfig(apps: apps, dockerHost: engine.host, verifyTimeout: 30)
    return try await fleet.startAgent(config)
  }

  static func size(_ file: String) throws -> Int64 {
    try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber).int64Value
  }

  static func runningContainers(_ engine: DockerEngine, app: String) throws -> [String] {
    try engine.docker(["ps", "--quiet", "--filter", "label=com.docker.compose.project=\(app)"])
      .split(whereSeparator: \.isNewline).map(String.init)
  }
}
