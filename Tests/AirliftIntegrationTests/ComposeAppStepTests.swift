import AirliftClient
import AirliftCore
import Foundation
import Testing

@testable import AirliftAgent

/// A flow's compose step on a real Docker engine: the release's apps updated
/// from the compose file a parameter names, and undone by a later step's
/// roll-back.
extension ComposeAppTests {
  /// A second compose file for the bundle, running `tag` with a command that says "prod".
  static func prodCompose(_ tag: String) -> [String: String] {
    [
      "compose.prod.yml": """
      services:
        main:
          image: \(tag)
          command: ["/bin/sh", "-c", "echo prod >> /data/log; exec sleep 100000"]
          network_mode: none
          stop_signal: SIGKILL
          volumes: ["data:/data"]
      volumes:
        data: {}

      """
    ]
  }

  /// The command of the web app's container, as the engine reports it.
  static func command(_ engine: DockerEngine) throws -> String {
    try engine.docker(["inspect", "--format", "{{json .Config.Cmd}}", try container(engine, app: "web").id])
  }

  @Test(
    "a flow's compose step runs the app from the compose file a parameter names; a later step failing with roll-back starts the previous version again"
  )
  func composeStep() async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      var ids: [String: String] = [:]
      for (tag, marker) in [("local/web:1", "web-1"), ("local/web:2", "web-2")] {
        ids[tag] = try engine.makeImage(tag, marker: marker)
      }
      let folder = "\(fleet.root)/apps"
      try await Self.startAgent(fleet, engine, id: "compose-steps")
      let check = "\(fleet.root)/check"
      try FileManager.default.createDirectory(atPath: check, withIntermediateDirectories: true)
      for (version, tag, status) in [("1.0.0", "local/web:1", 0), ("2.0.0", "local/web:2", 4)] {
        let bundle = try Self.bundle(
          engine, in: folder, app: "web", version: version, tag: tag, extra: Self.prodCompose(tag))
        let script = try TestScript.write(
          "\(check)/check-\(version).sh", "echo 'the web answers \(status)' >&2; exit \(status)")
        let web = try await client.uploadBlob(file: bundle)
        let checker = try await client.uploadBlob(file: script)
        _ = try await client.createRelease(
          .init(
            package: "site", version: version, handler: HandlerName.steps,
            assets: [
              .init(name: "app-web.tar.gz", sha256: web.sha256), .init(name: "check.sh", sha256: checker.sha256),
            ],
            apps: [
              ReleaseApp(
                name: "web", version: version, asset: "app-web.tar.gz",
                images: [.init(reference: tag, id: try #require(ids[tag]))])
            ]))
      }
      var flow = API.CreateFlow(
        name: "site", handler: HandlerName.steps,
        parameters: [.init(name: "COMPOSE_FILE", defaultValue: "docker-compose.yml")],
        target: .init(devices: ["compose-steps"]))
      flow.steps = [
        FlowStep(action: .compose, composeFile: "${COMPOSE_FILE}"),
        FlowStep(name: "check", action: .script, asset: "check.sh", onFailure: .rollBack),
      ]
      _ = try await client.createFlow(flow)

      let first = try await client.launchFlow(
        "site", .init(package: "site", version: "1.0.0", parameters: ["COMPOSE_FILE": "compose.prod.yml"]))
      let done = try await client.ended(first.id, as: .successful)
      #expect(done.state == .successful, "\(done.error ?? "")")
      #expect(try Self.container(engine, app: "web").image == ids["local/web:1"])
      #expect(try Self.command(engine).contains("echo prod"), "run from compose.prod.yml")
      _ = try await fleet.report(of: "compose-steps", in: first.id, "the compose step") {
        $0.stage == "step 1 of 2: compose update"
      }

      let second = try await client.launchFlow(
        "site", .init(package: "site", version: "2.0.0", parameters: ["COMPOSE_FILE": "compose.prod.yml"]))
      let back = try await client.ended(second.id, as: .rolledBack)
      #expect(back.state == .rolledBack, "\(back.error ?? "")")
      #expect(back.error?.contains("step 2 of 2 (check)") == true, "\(back.error ?? "")")
      #expect(try Self.container(engine, app: "web").image == ids["local/web:1"], "1.0.0 runs again")
      #expect(try Self.command(engine).contains("echo prod"), "from the file it ran from before")
    }
  }
}
