import AirliftClient
import AirliftCore
import Foundation
import Testing

@testable import AirliftAgent

/// Compose apps on a real Docker engine (Debian's dockerd, vfs, a private
/// socket) with a real controller, broker and agent.
@Suite("Compose apps: fetch only what is missing, touch only what changes, roll back", .serialized)
struct ComposeAppTests {
  @Test(
    "a release that changes one app and adds one: the unchanged app's container keeps running, only missing images load"
  )
  func updatesOnlyWhatChanges() async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      var ids: [String: String] = [:]
      for (tag, marker) in [
        ("local/web:1", "web-1"), ("local/metrics:1", "metrics-1"), ("local/metrics:2", "metrics-2"),
        ("local/cache:1", "cache-1"),
      ] {
        ids[tag] = try engine.makeImage(tag, marker: marker)
      }
      let folder = "\(fleet.root)/apps"
      let web1 = try Self.bundle(engine, in: folder, app: "web", version: "1.0.0", tag: "local/web:1", health: true)
      let metrics1 = try Self.bundle(engine, in: folder, app: "metrics", version: "1.0.0", tag: "local/metrics:1")
      let metrics2 = try Self.bundle(engine, in: folder, app: "metrics", version: "2.0.0", tag: "local/metrics:2")
      let cache1 = try Self.bundle(engine, in: folder, app: "cache", version: "1.0.0", tag: "local/cache:1")
      // The device starts with none of them: each must come from its bundle.
      try engine.docker(["image", "rm"] + Array(ids.keys))

      let agent = try await Self.startAgent(fleet, engine, id: "compose-01")
      let first = try await Self.rollOut(
        client, version: "1.0.0",
        apps: [("web", "1.0.0", web1, "local/web:1"), ("metrics", "1.0.0", metrics1, "local/metrics:1")], ids: ids,
        to: "compose-01")
      let firstReport = try #require(try await client.deployment(first).devices.first)
      #expect(firstReport.state == .successful, "\(firstReport.error ?? "")")
      let web = try Self.container(engine, app: "web")
      #expect(web.image == ids["local/web:1"])
      #expect(try Self.container(engine, app: "metrics").image == ids["local/metrics:1"])

      let before = Int(Date().timeIntervalSince1970) - 1
      let downloadedBefore = try agent.store.status(device: "compose-01").bytesDownloaded
      #expect(downloadedBefore == (try Self.size(web1)) + (try Self.size(metrics1)))
      let second = try await Self.rollOut(
        client, version: "2.0.0",
        apps: [
          ("web", "1.0.0", web1, "local/web:1"), ("metrics", "2.0.0", metrics2, "local/metrics:2"),
          ("cache", "1.0.0", cache1, "local/cache:1"),
        ], ids: ids, to: "compose-01")
      let secondReport = try #require(try await client.deployment(second).devices.first)
      #expect(secondReport.state == .successful, "\(secondReport.error ?? "")")
      // web did not change: the same container, never restarted.
      let webAfter = try Self.container(engine, app: "web")
      #expect(webAfter.id == web.id && webAfter.started == web.started)
      #expect(try Self.container(engine, app: "metrics").image == ids["local/metrics:2"])
      #expect(try Self.container(engine, app: "cache").image == ids["local/cache:1"])
      // Only the bundles of the apps that change travel: not web's.
      let downloaded = try agent.store.status(device: "compose-01").bytesDownloaded - downloadedBefore
      #expect(downloaded == (try Self.size(metrics2)) + (try Self.size(cache1)))
      // Only what the device lacked was loaded.
      let loaded = Set(try engine.loadedImages(since: before))
      #expect(loaded == Set([ids["local/metrics:2"]!, ids["local/cache:1"]!]))

      // The inventory says which app version runs where.
      try await eventually("the check-in with the apps") {
        let device = try await client.devices().first { $0.id == "compose-01" }
        return device?.installed["metrics"] == "2.0.0" && device?.installed["cache"] == "1.0.0"
          && device?.installed["web"] == "1.0.0"
      }
      #expect(try await client.devices(app: "metrics", version: "<2.0.0").isEmpty)
      let apps = try #require(try await client.devices().first { $0.id == "compose-01" }?.apps)
      #expect(
        apps.map { "\($0.name)@\($0.version) \($0.state.rawValue)" }.sorted() == [
          "cache@1.0.0 running", "metrics@2.0.0 running", "web@1.0.0 running",
        ])

      // A boot that did not bring the apps back (here: their containers removed): `airlift-agent start` runs each
      // app's current version again, through the running agent.
      for app in ["web", "metrics", "cache"] {
        try engine.docker(["rm", "--force"] + (try Self.runningContainers(engine, app: app)))
      }
      let configFile = "\(fleet.root)/compose-01.json"
      try JSONEncoder().encode(agent.config).write(to: URL(fileURLWithPath: configFile))
      let started = try await runAgentCommand(["start", "--config", configFile, "--json"])
      #expect(started.status == 0, "\(started)")
      let reply = try Wire.decode(LocalReply.self, from: Array(started.output.utf8), topic: "start")
      #expect(
        reply.apps?.map { "\($0.app)@\($0.version)" } == ["cache@1.0.0", "metrics@2.0.0", "web@1.0.0"]
          && reply.apps?.allSatisfy { $0.error == nil } == true, "\(reply)")
      #expect(try Self.container(engine, app: "web").image == ids["local/web:1"])
      #expect(try Self.container(engine, app: "metrics").image == ids["local/metrics:2"])
      #expect(try Self.container(engine, app: "cache").image == ids["local/cache:1"])
    }
  }

  @Test("a v2 whose container exits is rolled back: v1 runs again with its data volume; the report names the app")
  func rollsBackAnAppThatExits() async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      var ids: [String: String] = [:]
      ids["local/web:1"] = try engine.makeImage("local/web:1", marker: "web-1")
      ids["local/web:2"] = try engine.makeImage("local/web:2", marker: "web-2")
      let folder = "\(fleet.root)/apps"
      let web1 = try Self.bundle(engine, in: folder, app: "web", version: "1.0.0", tag: "local/web:1")
      let web2 = try Self.bundle(
        engine, in: folder, app: "web", version: "2.0.0", tag: "local/web:2",
        command: "cat /VERSION >> /data/log; echo v2 cannot start >&2; exit 3")
      try await Self.startAgent(fleet, engine, id: "compose-02")

      try await Self.rollOut(
        client, version: "1.0.0", apps: [("web", "1.0.0", web1, "local/web:1")], ids: ids, to: "compose-02")

      try await Self.release(client, version: "2.0.0", apps: [("web", "2.0.0", web2, "local/web:2")], ids: ids)
      let second = try await Self.deploy(client, "2.0.0", to: "compose-02")
      try await eventually("v2 to be rolled back", within: 120) {
        try await client.deployment(second).devices.first?.state == .rolledBack
      }
      let report = try #require(try await client.deployment(second).devices.first)
      #expect(report.error?.contains("compose (web)") == true)
      #expect(report.error?.contains("exit code 3") == true)
      // v1 runs again, on the same volume: what v1 and v2 wrote is still there.
      let web = try Self.container(engine, app: "web")
      #expect(web.image == ids["local/web:1"])
      let log = try engine.docker(["exec", web.id, "cat", "/data/log"])
      #expect(log.split(separator: "\n").map(String.init) == ["web-1", "web-2", "web-1"])
      try await eventually("the check-in with web 1.0.0") {
        try await client.devices().first { $0.id == "compose-02" }?.installed["web"] == "1.0.0"
      }

      // A v3 that runs but fails its health check is rolled back the same way.
      let web3 = try Self.bundle(
        engine, in: folder, app: "web", version: "3.0.0", tag: "local/web:2", health: true, healthFile: "/missing")
      try await Self.release(client, version: "3.0.0", apps: [("web", "3.0.0", web3, "local/web:2")], ids: ids)
      let third = try await Self.deploy(client, "3.0.0", to: "compose-02")
      try await eventually("the unhealthy v3 to be rolled back", within: 120) {
        try await client.deployment(third).devices.first?.state == .rolledBack
      }
      #expect(try await client.deployment(third).devices.first?.error?.contains("failed its health check") == true)
      #expect(try Self.container(engine, app: "web").image == ids["local/web:1"])
    }
  }

  @Test("an image the signed manifest does not list is refused before any app stops")
  func refusesAnUnlistedImage() async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      var ids: [String: String] = [:]
      ids["local/web:1"] = try engine.makeImage("local/web:1", marker: "web-1")
      ids["local/web:2"] = try engine.makeImage("local/web:2", marker: "web-2")
      let folder = "\(fleet.root)/apps"
      let web1 = try Self.bundle(engine, in: folder, app: "web", version: "1.0.0", tag: "local/web:1")
      let web2 = try Self.bundle(engine, in: folder, app: "web", version: "2.0.0", tag: "local/web:2")
      try engine.docker(["image", "rm", "local/web:2"])
      try await Self.startAgent(fleet, engine, id: "compose-03")
      try await Self.rollOut(
        client, version: "1.0.0", apps: [("web", "1.0.0", web1, "local/web:1")], ids: ids, to: "compose-03")
      let before = try Self.container(engine, app: "web")

      // The manifest says web 2.0.0 runs web:1's image; the bundle carries another one.
      var lying = ids
      lying["local/web:2"] = ids["local/web:1"]
      try await Self.release(client, version: "2.0.0", apps: [("web", "2.0.0", web2, "local/web:2")], ids: lying)
      let second = try await Self.deploy(client, "2.0.0", to: "compose-03")
      try await eventually("the update to fail", within: 120) {
        let state = try await client.deployment(second).devices.first?.state
        return state == .failed || state == .rolledBack
      }
      let report = try #require(try await client.deployment(second).devices.first)
      #expect(report.error?.contains("which the signed manifest does not list") == true)
      let after = try Self.container(engine, app: "web")
      #expect(after.id == before.id && after.started == before.started)
      #expect(try engine.docker(["images", "--quiet", "local/web:2"]).isEmpty)
    }
  }

  @Test("an app the release drops is stopped; an app the config leaves out is never started; others are untouched")
  func dropsAndDisabledApps() async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      var ids: [String: String] = [:]
      for (tag, marker) in [("local/web:1", "web-1"), ("local/metrics:1", "metrics-1"), ("local/cache:1", "cache-1")] {
        ids[tag] = try engine.makeImage(tag, marker: marker)
      }
      let folder = "\(fleet.root)/apps"
      let web1 = try Self.bundle(engine, in: folder, app: "web", version: "1.0.0", tag: "local/web:1")
      let metrics1 = try Self.bundle(engine, in: folder, app: "metrics", version: "1.0.0", tag: "local/metrics:1")
      let cache1 = try Self.bundle(engine, in: folder, app: "cache", version: "1.0.0", tag: "local/cache:1")
      try await Self.startAgent(fleet, engine, id: "compose-04", apps: ["web", "metrics"])

      let first = try await Self.rollOut(
        client, version: "1.0.0",
        apps: [
          ("web", "1.0.0", web1, "local/web:1"), ("metrics", "1.0.0", metrics1, "local/metrics:1"),
          ("cache", "1.0.0", cache1, "local/cache:1"),
        ], ids: ids, to: "compose-04")
      #expect(try await client.deployment(first).devices.first?.state == .successful)
      #expect(try Self.runningContainers(engine, app: "metrics").count == 1)
      #expect(try Self.runningContainers(engine, app: "cache").isEmpty, "cache is not enabled on this device")
      let web = try Self.container(engine, app: "web")

      let second = try await Self.rollOut(
        client, version: "2.0.0", apps: [("web", "1.0.0", web1, "local/web:1")], ids: ids, to: "compose-04")
      #expect(try await client.deployment(second).devices.first?.state == .successful)
      #expect(try Self.runningContainers(engine, app: "metrics").isEmpty, "metrics left the release")
      let webAfter = try Self.container(engine, app: "web")
      #expect(webAfter.id == web.id && webAfter.started == web.started)
      try await eventually("the check-in without metrics") {
        let installed = try await client.devices().first { $0.id == "compose-04" }?.installed ?? [:]
        return installed["web"] == "1.0.0" && installed["metrics"] == nil && installed["cache"] == nil
      }

      // The operator disables web on this device and enables cache: the next update stops web, starts cache.
      await fleet.stopAgent("compose-04")
      try await Self.startAgent(fleet, engine, id: "compose-04", apps: ["cache"])
      let third = try await Self.rollOut(
        client, version: "3.0.0",
        apps: [("web", "1.0.0", web1, "local/web:1"), ("cache", "1.0.0", cache1, "local/cache:1")], ids: ids,
        to: "compose-04")
      #expect(try await client.deployment(third).devices.first?.state == .successful)
      #expect(try Self.runningContainers(engine, app: "web").isEmpty, "web is disabled now")
      #expect(try Self.container(engine, app: "cache").image == ids["local/cache:1"])
    }
  }

  @Test(
    "an agent killed while it loads v2's images, after Compose stopped v1, or before Compose starts v2, ends with v2 or v1 running",
    arguments: ["load", "down", "up -d"])
  func killedMidUpdate(stalledStep: String) async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      var ids: [String: String] = [:]
      ids["local/web:1"] = try engine.makeImage("local/web:1", marker: "web-1")
      let folder = "\(fleet.root)/apps"
      let web1 = try Self.bundle(engine, in: folder, app: "web", version: "1.0.0", tag: "local/web:1")
      ids["local/web:2"] = try engine.makeImage("local/web:2", marker: "web-2")
      let web2 = try Self.bundle(engine, in: folder, app: "web", version: "2.0.0", tag: "local/web:2")
      // v2's image must be loaded from its bundle.
      try engine.docker(["image", "rm", "local/web:2"])
      // The engine's CLI (load) or Compose (down of v1, up of v2), stalled at one step of the update
      // to 2.0.0: the agent is killed there. `down` runs to its end first.
      let marker = "\(fleet.root)/stalled"
      let wrapper = "\(fleet.root)/stalling-\(stalledStep == "load" ? "docker" : "compose")"
      let (pattern, real) =
        switch stalledStep {
        case "load": ("'load '*", "docker")
        case "down": ("*'/1.0.0 down'", "docker-compose")
        default: ("*'/2.0.0 up -d'", "docker-compose")
        }
      try """
      #!/bin/sh
      case "$*" in
        \(pattern)) \(stalledStep == "down" ? "docker-compose \"$@\";" : "") echo $$ > '\(marker)'; sleep 120; exit 1 ;;
      esac
      exec \(real) "$@"

      """.write(toFile: wrapper, atomically: true, encoding: .utf8)
      try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
      var config = try fleet.agentConfig("compose-05")
      config.compose = ComposeConfig(dockerHost: engine.host, verifyTimeout: 30)
      if stalledStep == "load" { config.compose?.docker = wrapper } else { config.compose?.command = [wrapper] }
      try fleet.startAgentProcess(config)
      try await eventually("compose-05 to check in", within: 60) {
        try await client.devices().contains { $0.id == "compose-05" && $0.online }
      }
      try await Self.rollOut(
        client, version: "1.0.0", apps: [("web", "1.0.0", web1, "local/web:1")], ids: ids, to: "compose-05")

      try await Self.release(client, version: "2.0.0", apps: [("web", "2.0.0", web2, "local/web:2")], ids: ids)
      let before = try Self.container(engine, app: "web")
      let second = try await Self.deploy(client, "2.0.0", to: "compose-05")
      try await eventually("the update to stall at \(stalledStep)", within: 120) {
        FileManager.default.fileExists(atPath: marker)
      }
      if stalledStep == "load" {
        let now = try Self.container(engine, app: "web")
        #expect(now.id == before.id && now.started == before.started, "nothing stops while images load")
      } else {
        #expect(try Self.runningContainers(engine, app: "web").isEmpty, "v1 should be stopped by now")
      }
      await fleet.killAgentProcess("compose-05")
      if let pid = Int32(
        (try String(contentsOfFile: marker, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines))
      {
        kill(pid, SIGKILL)
      }

      config.compose?.command = nil
      config.compose?.docker = nil
      try fleet.startAgentProcess(config)
      // Killed while fetching, the update goes on (nothing had changed); killed later, it is rolled back.
      let expected: DeviceState = stalledStep == "load" ? .successful : .rolledBack
      try await eventually("the interrupted update to end \(expected)", within: 120) {
        try await client.deployment(second).devices.first?.state == expected
      }
      #expect(
        try Self.container(engine, app: "web").image == ids[stalledStep == "load" ? "local/web:2" : "local/web:1"])
      #expect(try Self.runningContainers(engine, app: "web").count == 1)
      await fleet.killAgentProcess("compose-05", SIGTERM)
    }
  }

  @Test("airlift release create --app reads the image ids from the bundle and signs them into the manifest")
  func cliListsAppsAndImages() async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      let id = try engine.makeImage("local/web:1", marker: "web-1")
      let bundle = try Self.bundle(engine, in: "\(fleet.root)/apps", app: "web", version: "1.0.0", tag: "local/web:1")
      let cli = try Fleet.builtBinary("airlift")
      let common = [
        "--controller", fleet.controllerURL, "--certs", fleet.certs, "--sign-key",
        "\(fleet.certs)/release-signing.key",
      ]
      let (status, output) = try await Fleet.execute(
        cli, ["release", "create", "site", "3.0.0", "--app", "web@1.0.0=\(bundle)", "--json"] + common)
      #expect(status == 0, "\(output)")
      let release = try await client.release(package: "site", version: "3.0.0")
      #expect(release.handler == "compose")
      #expect(
        release.apps == [
          ReleaseApp(
            name: "web", version: "1.0.0", asset: "app-web.tar", images: [.init(reference: "local/web:1", id: id)])
        ])
      let signed = try await client.signedManifest(package: "site", version: "3.0.0")
      #expect(signed.manifest.apps == release.apps)
      #expect(signed.manifest.canonicalText.contains("image web \(id) local/web:1\n"))

      // The gzip bundle went up as the plain tar inside it, so the next version of the app whose compose file
      // changed beside the same image is a delta of a few chunks, not the image archive again.
      let asset = try #require(release.assets.first)
      #expect(asset.index != nil, "a \(asset.size)-byte bundle got no chunk index")
      let changed = try Self.bundle(
        engine, in: "\(fleet.root)/apps", app: "web", version: "1.0.2", tag: "local/web:1",
        command: "echo changed >> /data/log; exec sleep 100000")
      let (again, againOutput) = try await Fleet.execute(
        cli, ["release", "create", "site", "3.0.2", "--app", "web@1.0.2=\(changed)"] + common)
      #expect(again == 0, "\(againOutput)")
      let estimate = try await client.estimateDelta(package: "site", from: "3.0.0", to: "3.0.2")
      let web = try #require(estimate.assets.first)
      #expect(web.whole == nil && web.fetched < 300 << 10, "\(web) for a \(asset.size)-byte bundle")

      // A bundle without a compose file is refused before anything is uploaded.
      let empty = "\(fleet.root)/empty"
      try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
      try "x".write(toFile: "\(empty)/README", atomically: true, encoding: .utf8)
      try Fleet.run("/usr/bin/env", ["tar", "-czf", "\(fleet.root)/empty.tar.gz", "-C", empty, "."])
      let (refused, message) = try await Fleet.execute(
        cli, ["release", "create", "site", "3.0.1", "--app", "web@1.0.1=\(fleet.root)/empty.tar.gz"] + common)
      #expect(refused != 0)
      #expect(message.contains("has no docker-compose.yml"))
      await #expect(throws: (any Error).self) { try await client.release(package: "site", version: "3.0.1") }
    }
  }

  @Test(
    "images pinned by digest come from a registry through the engine; a pinned image that is not the signed id is refused before any app stops"
  )
  func pullsPinnedImages() async throws {
    try await Self.withEngine { engine, fleet in
      let client = try #require(fleet.client)
      let registry = try await LocalRegistry.start(in: fleet.root)
      defer { registry.stop() }
      var ids: [String: String] = [:]
      ids["local/web:1"] = try engine.makeImage("local/web:1", marker: "web-1")
      let folder = "\(fleet.root)/apps"
      let web1 = try Self.bundle(engine, in: folder, app: "web", version: "1.0.0", tag: "local/web:1")
      // v2 lives in the registry only, pinned by its digest.
      let tag = "localhost:\(registry.port)/app/web:2"
      let id2 = try engine.makeImage(tag, marker: "web-2")
      try engine.docker(["push", tag])
      let pinned = try engine.docker(["image", "inspect", "--format", "{{index .RepoDigests 0}}", tag])
      #expect(pinned.contains("@sha256:"))
      let web2 = try Self.bundle(engine, in: folder, app: "web", version: "2.0.0", tag: pinned, archive: false)
      // The CLI asks this machine's engine for the pinned image's id and signs it.
      let (status, output) = try await Fleet.execute(
        "/usr/bin/env",
        [
          "DOCKER_HOST=\(engine.host)", try Fleet.builtBinary("airlift"), "release", "create", "site", "2.0.1", "--app",
          "web@2.0.0=\(web2)", "--controller", fleet.controllerURL, "--certs", fleet.certs, "--sign-key",
          "\(fleet.certs)/release-signing.key",
        ])
      #expect(status == 0, "\(output)")
      #expect(
        try await client.release(package: "site", version: "2.0.1").apps?.first?.images == [
          .init(reference: pinned, id: id2)
        ])
      try engine.docker(["image", "rm", tag])
      #expect(throws: (any Error).self) { try engine.docker(["image", "inspect", id2]) }

      try await Self.startAgent(fleet, engine, id: "compose-06")
      try await Self.rollOut(
        client, version: "1.0.0", apps: [("web", "1.0.0", web1, "local/web:1")], ids: ids, to: "compose-06")
      let before = try Self.container(engine, app: "web")

      // A manifest that names another image for the pinned reference is refused; v1 never stops.
      try await Self.release(
        client, version: "2.0.0", apps: [("web", "2.0.0", web2, pinned)], ids: [pinned: ids["local/web:1"]!])
      let lying = try await Self.deploy(client, "2.0.0", to: "compose-06")
      try await eventually("the lying release to fail", within: 120) {
        let state = try await client.deployment(lying).devices.first?.state
        return state == .failed || state == .rolledBack
      }
      #expect(try await client.deployment(lying).devices.first?.error?.contains("as the signed manifest says") == true)
      let after = try Self.container(engine, app: "web")
      #expect(after.id == before.id && after.started == before.started)

      let since = Int(Date().timeIntervalSince1970) - 1
      let good = try await Self.deploy(client, "2.0.1", to: "compose-06")
      try await eventually("the pinned release to complete", within: 120) {
        try await client.deployment(good).status == .completed
      }
      let goodDevice = try await client.deployment(good).devices.first
      #expect(goodDevice?.state == .successful, "\(String(describing: goodDevice))")
      #expect(try Self.container(engine, app: "web").image == id2)
      #expect(try engine.loadedImages(since: since).isEmpty, "a pinned image is pulled, not loaded")
      // The pull's bytes are download progress, after the bundle's.
      let events = try await #require(fleet.controller?.store).statusEvents(
        deployment: good, device: DeviceID("compose-06"))
      let pulled = try #require(events.first { $0.stage?.hasPrefix("pulled \(pinned): ") == true })
      #expect(pulled.state == .downloading)
      let layerBytes = try #require(Int64(pulled.stage?.split(separator: " ").dropLast().last ?? ""))
      #expect(layerBytes > 100_000, "busybox's layer travelled: \(pulled)")
      // The CLI uploaded the gzip bundle as the plain tar inside it: the asset's size, not the file's.
      let bundleBytes = try await client.release(package: "site", version: "2.0.1").assets.map(\.size).reduce(0, +)
      #expect(bundleBytes > (try Self.size(web2)), "the plain tar is larger than the gzip")
      #expect(pulled.bytes == bundleBytes + layerBytes)
      let pulledAt = try #require(events.firstIndex { $0.stage == pulled.stage })
      #expect(events[pulledAt...].contains { $0.state == .downloaded })
    }
  }

  @Test("an app's state in check-ins: running, starting, unhealthy or stopped with the container and its exit code")
  func appStates() {
    func container(_ status: String, health: String = "", exit: Int = 0) -> ComposeEngine.Container {
      ComposeEngine.Container(id: "c1", name: "web-main-1", image: "i", status: status, health: health, exitCode: exit)
    }
    func state(_ containers: [ComposeEngine.Container]) -> String {
      let app = ComposeHandler.state(of: "web", version: "1.0.0", containers: containers)
      return "\(app.state.rawValue) \(app.reason ?? "")"
    }
    #expect(state([container("running"), container("running", health: "healthy")]) == "running ")
    #expect(state([container("running", health: "starting")]) == "starting ")
    #expect(
      state([container("running", health: "unhealthy")]) == "unhealthy container web-main-1 failed its health check")
    #expect(
      state([container("running"), container("exited", exit: 3)])
        == "stopped container web-main-1 is exited (exit code 3)")
    #expect(state([]) == "stopped no container")
  }
}
