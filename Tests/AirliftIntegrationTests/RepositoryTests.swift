import AirliftAgent
import AirliftClient
import AirliftCore
import AsyncHTTPClient
import Foundation
import Testing

/// Nexigon-style repositories: `acme/gw-fw`, tokens and devices limited to some, draft versions.
@Suite("Repositories: REPO/PACKAGE names, limited tokens and devices, draft versions")
struct RepositoryTests {
  static func client(_ fleet: Fleet, token: String) throws -> ControllerClient {
    try ControllerClient(
      baseURL: fleet.controllerURL, caFile: "\(fleet.certs)/ca.crt", token: token, signer: try fleet.signingKey)
  }

  @Test(
    "airlift repo create|list|show|delete; a REPO/PACKAGE release reaches a device end to end; the default repository keeps bare names"
  )
  func repositoriesEndToEnd() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let (created, createdOutput) = try await fleet.airlift([
        "repo", "create", "acme", "--description", "ACME gateways",
      ])
      #expect(created == 0 && createdOutput.contains("repository acme created"), "\(createdOutput)")
      let (again, againOutput) = try await fleet.airlift(["repo", "create", "acme"])
      #expect(again != 0 && againOutput.contains("repository 'acme' exists already"), "\(againOutput)")

      // A release in a repository that does not exist is refused, naming the fix; `default/NAME` too.
      let bundle = try ReleaseBundle.make(in: fleet.root)
      await #expect {
        _ = try await client.uploadRelease(package: "nowhere/app", version: "1.0.0", file: bundle)
      } throws: { "\($0)".contains("no repository 'nowhere'") && "\($0)".contains("airlift repo create nowhere") }
      await #expect {
        _ = try await client.uploadRelease(package: "default/app", version: "1.0.0", file: bundle)
      } throws: { "\($0)".contains("say 'app', not 'default/app'") }

      let config = try fleet.agentConfig("repo-1")
      try await fleet.startAgent(config)
      try await eventually("repo-1 to check in") { try await client.devices().map(\.id).contains("repo-1") }
      _ = try await client.uploadRelease(package: "acme/hello", version: "1.0.0", file: bundle)
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      let (deployed, deployOutput) = try await fleet.airlift([
        "deploy", "create", "acme/hello@1.0.0", "--device", "repo-1",
      ])
      #expect(deployed == 0, "\(deployOutput)")
      try await eventually("repo-1 to run acme/hello 1.0.0") {
        try await client.device("repo-1").device.installed["acme/hello"] == "1.0.0"
      }
      #expect(try String(contentsOfFile: "\(config.installDirectory)/version", encoding: .utf8) == "1.0.0")

      let (listed, listOutput) = try await fleet.airlift(["repo", "list"])
      #expect(listed == 0 && listOutput.contains("acme") && listOutput.contains("default"), "\(listOutput)")
      let acme = try await client.repository("acme")
      #expect(acme.packages == ["acme/hello"] && acme.releases == 1 && acme.description == "ACME gateways")
      #expect(try await client.repository("default").packages == ["hello"])
      let (shown, showOutput) = try await fleet.airlift(["repo", "show", "acme"])
      #expect(shown == 0 && showOutput.contains("acme/hello"), "\(showOutput)")
      let (releaseShown, releaseOutput) = try await fleet.airlift(["release", "show", "acme/hello@1.0.0"])
      #expect(releaseShown == 0 && releaseOutput.contains("sealed"), "\(releaseOutput)")

      // Deleting: not while it holds versions, never the default; an empty one goes.
      let (busy, busyOutput) = try await fleet.airlift(["repo", "delete", "acme"])
      #expect(busy != 0 && busyOutput.contains("holds 1 version(s)"), "\(busyOutput)")
      let (kept, keptOutput) = try await fleet.airlift(["repo", "delete", "default"])
      #expect(kept != 0 && keptOutput.contains("cannot be deleted"), "\(keptOutput)")
      _ = try await client.createRepository("scratch")
      let (deleted, deletedOutput) = try await fleet.airlift(["repo", "delete", "scratch"])
      #expect(deleted == 0, "\(deletedOutput)")
      #expect(try await client.repositories().map(\.name) == ["acme", "default"])
    }
  }

  @Test(
    "a token limited to a repository publishes and deploys there only, with the role given there; lists leave the rest out; fleet-wide writes are refused"
  )
  func limitedTokens() async throws {
    try await Fleet.with { fleet in
      let admin = try #require(fleet.client)
      _ = try await admin.createRepository("acme")
      _ = try await admin.createRepository("other")
      try await fleet.startAgent(try fleet.agentConfig("scope-1"))
      try await eventually("scope-1 to check in") { try await admin.devices().map(\.id).contains("scope-1") }
      let bundle = try ReleaseBundle.make(in: fleet.root)
      _ = try await admin.uploadRelease(package: "other/app", version: "1.0.0", file: bundle)
      _ = try await admin.uploadRelease(package: "app", version: "1.0.0", file: bundle)

      let ci = try await admin.createToken(
        name: "acme-ci", role: .deployer, repositories: ["acme": .deployer, "other": .reader])
      #expect(ci.token.repositories == ["acme": .deployer, "other": .reader])
      let limited = try Self.client(fleet, token: ci.secret)
      defer { Task { await limited.shutdown() } }

      // Its own repository: publish, tag, deploy, and steer the deployment.
      _ = try await limited.uploadRelease(package: "acme/app", version: "1.0.0", file: bundle)
      _ = try await limited.setTag(package: "acme/app", tag: "stable", version: "1.0.0", locked: false)
      // A device that has not checked in yet, so the deployment is still live when it is paused.
      let deployment = try await limited.createDeployment(
        .init(
          package: "acme/app", version: "1.0.0", target: .init(devices: ["scope-later"]), allowUnknownDevices: true))
      _ = try await limited.changeDeployment(deployment.id, action: "pause")
      #expect(try await limited.deployment(deployment.id).status == .paused)

      // A repository where it reads only, and one it has no part in.
      #expect(try await limited.release(package: "other/app", version: "1.0.0").package == "other/app")
      await #expect {
        _ = try await limited.setTag(package: "other/app", tag: "stable", version: "1.0.0", locked: false)
      } throws: { "\($0)".contains("is reader there; this needs deployer in repository 'other'") }
      await #expect {
        _ = try await limited.release(package: "app", version: "1.0.0")
      } throws: { "\($0)".contains("has no access to it") && "\($0)".contains("repository 'default'") }
      await #expect {
        _ = try await limited.createDeployment(
          .init(package: "app", version: "1.0.0", target: .init(devices: ["scope-1"])))
      } throws: { "\($0)".contains("repository_forbidden") }
      let admins = try await admin.createDeployment(
        .init(package: "other/app", version: "1.0.0", target: .init(allDevices: true), supersede: true))
      await #expect {
        _ = try await limited.changeDeployment(admins.id, action: "abort")
      } throws: { "\($0)".contains("needs deployer in repository 'other'") }

      // Lists hold only what it may read; the fleet itself it reads.
      #expect(Set(try await limited.releases().map(\.package)) == ["acme/app", "other/app"])
      #expect(try await limited.repositories().map(\.name) == ["acme", "other"])
      #expect(try await limited.deployments().allSatisfy { $0.release.package != "app" })
      #expect(try await limited.devices().map(\.id) == ["scope-1"])

      // Fleet-wide writes need a token without a limit, whatever its role.
      await #expect {
        _ = try await limited.createGroup("nope")
      } throws: { "\($0)".contains("limited to some repositories") }
      await #expect {
        _ = try await limited.createRepository("mine")
      } throws: { "\($0)".contains("limited to some repositories") }

      // The dashboard shows every repository: a limited token cannot log in there, and is told why.
      let browser = DashboardTests.Browser(fleet)
      defer { Task { await browser.shutdown() } }
      let login = try await browser.login(ci.secret)
      #expect(login.status == 403 && login.body.contains("limited to some repositories"), "\(login.body.prefix(300))")

      // A limit never raises a role: a reader token stays a reader in a repository given as admin.
      let reader = try await admin.createToken(name: "acme-reader", role: .reader, repositories: ["acme": .admin])
      let asReader = try Self.client(fleet, token: reader.secret)
      defer { Task { await asReader.shutdown() } }
      await #expect {
        _ = try await asReader.setTag(package: "acme/app", tag: "beta", version: "1.0.0", locked: false)
      } throws: { "\($0)".contains("read_only") }
      let (listedTokens, tokensOutput) = try await fleet.airlift(["token", "list"])
      #expect(listedTokens == 0 && tokensOutput.contains("acme=deployer,other=reader"), "\(tokensOutput)")
      await #expect {
        _ = try await admin.createToken(name: "ghost", role: .reader, repositories: ["ghost": .reader])
      } throws: { "\($0)".contains("no repository 'ghost'") }
    }
  }

  @Test(
    "a device limited to repositories gets asset links, metadata and deployments from those only; an operator lifts the limit"
  )
  func limitedDevices() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      _ = try await client.createRepository("acme")
      let config = try fleet.agentConfig("limited-1")
      try await fleet.startAgent(config)
      try await eventually("limited-1 to check in") { try await client.devices().map(\.id).contains("limited-1") }
      // Different bytes in each repository, so each blob belongs to one repository only.
      let bundles = [
        "acme/app": try ReleaseBundle.make(in: fleet.root, name: "acme.tar.gz"),
        "app": try ReleaseBundle.make(in: fleet.root, name: "default.tar.gz"),
      ]
      for package in ["acme/app", "app"] {
        _ = try await client.uploadRelease(
          package: package, version: "1.0.0", file: bundles[package]!, name: "bundle.tar.gz")
        _ = try await client.setTag(package: package, tag: "stable", version: "1.0.0", locked: false)
        _ = try await client.attachMetadata(
          package: package, version: "1.0.0", name: "build", document: Array(#"{"commit":"abc"}"#.utf8))
      }
      let (set, setOutput) = try await fleet.airlift(["device", "repos", "limited-1", "--allow", "acme"])
      #expect(set == 0 && setOutput.contains("limited-1 may read repositories acme"), "\(setOutput)")
      #expect(try await client.device("limited-1").device.repositories == ["acme"])

      let device = DeviceAPI(config: config)
      let link = try await device.assetLink(package: "acme/app", tag: "stable", asset: "bundle.tar.gz")
      #expect(link.package == "acme/app" && link.version == "1.0.0")
      await #expect {
        _ = try await device.assetLink(package: "app", tag: "stable", asset: "bundle.tar.gz")
      } throws: { "\($0)".contains("may not read repository 'default'") }
      #expect(try await device.metadata(package: "acme/app", version: "1.0.0", name: "build").count > 0)
      await #expect {
        _ = try await device.metadata(package: "app", version: "1.0.0", name: "build")
      } throws: { "\($0)".contains("may not read repository 'default'") }

      // Its certificate fetches artifacts of its repositories only, even knowing another's digest.
      let http = try fleet.httpClient(certificate: config.certificate, key: config.key)
      defer { _ = http.shutdown() }
      func artifactStatus(_ package: String) async throws -> (UInt, String) {
        let digest = try await client.release(package: package, version: "1.0.0").assets[0].sha256
        let response = try await http.execute(
          HTTPClientRequest(url: "\(fleet.controllerURL)/artifacts/\(digest)"), timeout: requestTimeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: body))
      }
      #expect(try await artifactStatus("acme/app").0 == 200)
      let (refused, refusal) = try await artifactStatus("app")
      #expect(refused == 403 && refusal.contains("may not read repository 'default'"), "\(refusal)")

      // Named in a deployment of another repository: refused, saying which devices; of all devices: left out.
      await #expect {
        _ = try await client.createDeployment(
          .init(package: "app", version: "1.0.0", target: .init(devices: ["limited-1"])))
      } throws: { "\($0)".contains("may not read repository 'default'") && "\($0)".contains("limited-1") }
      let everyone = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(allDevices: true)))
      #expect(everyone.devices.isEmpty)

      // The asset-url command takes REPO/PACKAGE/TAG/ASSET.
      let configFile = "\(fleet.root)/limited-1.json"
      try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: configFile))
      let (status, output) = try await Fleet.execute(
        try Fleet.builtBinary("airlift-agent"), ["asset-url", "--config", configFile, "acme/app/stable/bundle.tar.gz"])
      #expect(status == 0 && output.contains("\"package\":\"acme/app\""), "\(output)")

      let (lifted, liftedOutput) = try await fleet.airlift(["device", "repos", "limited-1", "--all"])
      #expect(lifted == 0 && liftedOutput.contains("every repository"), "\(liftedOutput)")
      #expect(try await device.assetLink(package: "app", tag: "stable", asset: "bundle.tar.gz").package == "app")
    }
  }

  @Test(
    "a version is a draft until tagged, signed, offered by a policy or sealed: assets may be added, then never; release resolve prints what a tag names"
  )
  func draftVersions() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      _ = try await client.createRepository("acme")
      // A client without a signing key: a signature lists the assets, so signing seals a version too.
      let unsigned = try ControllerClient(
        baseURL: fleet.controllerURL, caFile: "\(fleet.certs)/ca.crt", certificate: "\(fleet.certs)/operator.crt",
        key: "\(fleet.certs)/operator.key")
      defer { Task { await unsigned.shutdown() } }
      let bundle = try ReleaseBundle.make(in: fleet.root)
      #expect(try await client.uploadRelease(package: "acme/fw", version: "0.9.0", file: bundle).sealedAt != nil)
      let first = try await unsigned.uploadRelease(package: "acme/fw", version: "1.0.0", file: bundle)
      #expect(first.sealedAt == nil)
      let extra = "\(fleet.root)/notes.txt"
      try Data("release notes".utf8).write(to: URL(fileURLWithPath: extra))
      let (added, addedOutput) = try await fleet.airlift(["release", "add-asset", "acme/fw@1.0.0", extra])
      #expect(added == 0 && addedOutput.contains("notes.txt") && addedOutput.contains("draft"), "\(addedOutput)")
      let (twice, twiceOutput) = try await fleet.airlift(["release", "add-asset", "acme/fw@1.0.0", extra])
      #expect(twice != 0 && twiceOutput.contains("has an asset named 'notes.txt' already"), "\(twiceOutput)")

      // Tagging seals it: from then on its assets are fixed.
      _ = try await client.setTag(package: "acme/fw", tag: "stable", version: "1.0.0", locked: false)
      let (late, lateOutput) = try await fleet.airlift(["release", "add-asset", "acme/fw@1.0.0", "more.txt=\(extra)"])
      #expect(
        late != 0 && lateOutput.contains("sealed at") && lateOutput.contains("publish a new version"), "\(lateOutput)")
      #expect(try await client.release(package: "acme/fw", version: "1.0.0").assets.count == 2)

      // By hand, and by a deployment.
      _ = try await unsigned.uploadRelease(package: "acme/fw", version: "1.1.0", file: bundle)
      let (sealed, sealedOutput) = try await fleet.airlift(["release", "seal", "acme/fw@1.1.0"])
      #expect(sealed == 0 && sealedOutput.contains("acme/fw@1.1.0 sealed at"), "\(sealedOutput)")
      _ = try await unsigned.uploadRelease(package: "acme/fw", version: "1.2.0", file: bundle)
      #expect(try await client.release(package: "acme/fw", version: "1.2.0").sealedAt == nil)
      // A distribution policy offers it to devices: that seals it too (deploying needs a signature, which does).
      _ = try await client.setReleasePolicy(package: "acme/fw", version: "1.2.0", policy: #"region == "eu""#)
      #expect(try await client.release(package: "acme/fw", version: "1.2.0").sealedAt != nil)

      let (resolved, resolvedOutput) = try await fleet.airlift(["release", "resolve", "acme/fw:stable"])
      #expect(resolved == 0 && resolvedOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "1.0.0")
      _ = try await client.setTag(package: "acme/fw", tag: "stable", version: "1.1.0", locked: false)
      #expect(try await client.resolveTag(package: "acme/fw", tag: "stable").version == "1.1.0")
      let (missing, missingOutput) = try await fleet.airlift(["release", "resolve", "acme/fw:beta"])
      #expect(missing != 0 && missingOutput.contains("beta"), "\(missingOutput)")
    }
  }
}
