import AirliftAgent
import AirliftClient
import AirliftController
import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing

/// Short-lived links to one asset, asked for by a script on the device and fetched without credentials.
@Suite("Asset links: one asset of a tag's version, short-lived, checked by the controller or nginx")
struct AssetLinkTests {
  /// GETs `url` as curl would: the fleet CA trusted, no client certificate.
  static func fetch(_ url: String, ca: String) async throws -> (status: UInt, body: [UInt8]) {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file(ca)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    defer { _ = http.shutdown() }
    let response = try await http.execute(HTTPClientRequest(url: url), timeout: requestTimeout)
    let body = try await response.body.collect(upTo: 16 << 20)
    return (response.status.code, Array(body.readableBytesView))
  }

  /// A release `app@version` with a script bundle and `tool.bin`, tagged `stable`; returns tool.bin's bytes.
  static func publish(_ fleet: Fleet, version: String) async throws -> [UInt8] {
    let client = try #require(fleet.client)
    let tool = try randomBytes(300_000)
    let toolFile = "\(fleet.root)/tool-\(version).bin"
    try Data(tool).write(to: URL(fileURLWithPath: toolFile))
    let bundle = try await client.uploadBlob(
      file: try ReleaseBundle.make(in: fleet.root, name: "app-\(version).tar.gz"))
    let blob = try await client.uploadBlob(file: toolFile)
    _ = try await client.createRelease(
      .init(
        package: "app", version: version,
        assets: [.init(name: "app.tar.gz", sha256: bundle.sha256), .init(name: "tool.bin", sha256: blob.sha256)]))
    _ = try await client.setTag(package: "app", tag: "stable", version: version, locked: false)
    return tool
  }

  static func decodeLink(_ output: String) throws -> API.AssetLink {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(API.AssetLink.self, from: Data(output.utf8))
  }

  @Test(
    "airlift-agent asset-url links one asset of the version a tag names now; anyone holding the link fetches it until it expires; a changed or expired link is refused"
  )
  func controllerLinks() async throws {
    try await Fleet.with { fleet in
      let tool1 = try await Self.publish(fleet, version: "1.0.0")
      let config = try fleet.agentConfig("link-1")
      let configFile = "\(fleet.root)/link-1.json"
      try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: configFile))
      let agent = try Fleet.builtBinary("airlift-agent")
      let ca = "\(fleet.certs)/ca.crt"

      let asked = Date()
      let (status, output) = try await Fleet.execute(
        agent, ["asset-url", "--config", configFile, "app/stable/tool.bin"])
      let answered = Date()
      #expect(status == 0, "\(output)")
      let link = try Self.decodeLink(output)
      #expect(link.version == "1.0.0" && link.tag == "stable" && link.asset == "tool.bin" && link.size == 300_000)
      #expect(link.url.hasPrefix("\(fleet.controllerURL)/links/\(link.sha256)/tool.bin?md5="))
      // 15 minutes from when the controller made it, between asking and the answer (a loaded machine took 10 s).
      let made = link.expires.addingTimeInterval(-900)
      #expect(
        made >= asked.addingTimeInterval(-1) && made <= answered.addingTimeInterval(1),
        "default lifetime 15 min: \(link.expires)")
      let fetched = try await Self.fetch(link.url, ca: ca)
      #expect(fetched.status == 200 && fetched.body == tool1)

      // Only that asset: the same token on another asset's path is refused.
      let release = try await #require(fleet.client).release(package: "app", version: "1.0.0")
      let other = try #require(release.assets.first { $0.name == "app.tar.gz" })
      let tampered = link.url.replacingOccurrences(
        of: "/links/\(link.sha256)/tool.bin", with: "/links/\(other.sha256)/tool.bin")
      #expect(try await Self.fetch(tampered, ca: ca).status == 403)
      let stretched = link.url.replacingOccurrences(of: "expires=", with: "expires=9")
      #expect(try await Self.fetch(stretched, ca: ca).status == 403)
      // Past its time: 410, with a message that says so.
      let secret = try String(contentsOfFile: "\(fleet.root)/controller/link-secret", encoding: .utf8)
      let past = Int64(Date().timeIntervalSince1970) - 60
      let path = "/links/\(link.sha256)/tool.bin"
      let expired =
        "\(fleet.controllerURL)\(path)?md5=\(AssetLinkSigner(secret: secret).token(path: path, expires: past))&expires=\(past)"
      let gone = try await Self.fetch(expired, ca: ca)
      #expect(gone.status == 410)
      #expect(String(decoding: gone.body, as: UTF8.self).contains("link_expired"))

      // The tag moves: a new link resolves the new version; the old link still names the old asset.
      let tool2 = try await Self.publish(fleet, version: "1.1.0")
      let (_, output2) = try await Fleet.execute(agent, ["asset-url", "--config", configFile, "app/stable/tool.bin"])
      let link2 = try Self.decodeLink(output2)
      #expect(link2.version == "1.1.0" && link2.sha256 != link.sha256)
      #expect(try await Self.fetch(link2.url, ca: ca).body == tool2)
      #expect(try await Self.fetch(link.url, ca: ca).body == tool1)

      // Mistakes say what exists.
      let (missing, missingOutput) = try await Fleet.execute(
        agent, ["asset-url", "--config", configFile, "app/stable/nope.bin"])
      #expect(missing != 0 && missingOutput.contains("has no asset 'nope.bin'; it has app.tar.gz, tool.bin"))
      let (noTag, noTagOutput) = try await Fleet.execute(
        agent, ["asset-url", "--config", configFile, "app/beta/tool.bin"])
      #expect(noTag != 0 && noTagOutput.contains("has no tag 'beta'"), "\(noTagOutput)")
    }
  }

  @Test(
    "with an external origin the links point there, and nginx's secure_link module checks them with the shared secret")
  func nginxOrigin() async throws {
    try await Fleet.with(controller: false) { fleet in
      let secret = "a-secret-shared-with-nginx"
      let origin = try await SecureLinkOrigin.start(
        in: fleet.root, certs: fleet.certs, blobs: "\(fleet.root)/controller/blobs", secret: secret)
      defer { origin.stop() }
      try await fleet.startControllerNow(assetLinks: AssetLinkConfig(origin: origin.url, secret: secret, ttl: 120))
      let tool = try await Self.publish(fleet, version: "2.0.0")

      let link = try await DeviceAPI(config: try fleet.agentConfig("link-2")).assetLink(
        package: "app", tag: "stable", asset: "tool.bin")
      #expect(link.url.hasPrefix("\(origin.url)/links/\(link.sha256)/tool.bin?md5="))
      #expect(abs(link.expires.timeIntervalSinceNow - 120) < 10)
      let ca = "\(fleet.certs)/ca.crt"
      let fetched = try await Self.fetch(link.url, ca: ca)
      #expect(fetched.status == 200 && fetched.body == tool)
      let log = try String(contentsOfFile: "\(fleet.root)/nginx/access.log", encoding: .utf8)
      #expect(log.contains("GET /links/\(link.sha256)/tool.bin"), "nginx served it")

      // nginx refuses what the controller would: a changed link (403) and an expired one (410).
      let tampered = link.url.replacingOccurrences(of: "tool.bin?", with: "other.bin?")
      #expect(try await Self.fetch(tampered, ca: ca).status == 403)
      let past = Int64(Date().timeIntervalSince1970) - 60
      let path = "/links/\(link.sha256)/tool.bin"
      let expired =
        "\(origin.url)\(path)?md5=\(AssetLinkSigner(secret: secret).token(path: path, expires: past))&expires=\(past)"
      #expect(try await Self.fetch(expired, ca: ca).status == 410)
    }
  }

  @Test("assetLinks.updates without an origin is refused when the config is read, naming the key to give")
  func updatesNeedAnOrigin() throws {
    func decode(_ links: String) throws -> ControllerConfig {
      try JSONDecoder().decode(
        ControllerConfig.self, from: Data(#"{"dataDirectory": "/tmp/x", "assetLinks": \#(links)}"#.utf8))
    }
    #expect(throws: (any Error).self) { try decode(#"{"updates": true}"#) }
    do {
      _ = try decode(#"{"updates": true}"#)
    } catch {
      #expect("\(error)".contains("give assetLinks.origin"), "\(error)")
    }
    let config = try decode(#"{"updates": true, "origin": "https://cdn.example.com"}"#)
    #expect(config.assetLinks.updates && config.assetLinks.origin == "https://cdn.example.com")
    #expect(try decode("{}").assetLinks.updates == false)
  }
}
