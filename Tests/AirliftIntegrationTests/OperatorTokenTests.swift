import AirliftClient
import AirliftCore
import AsyncHTTPClient
import Foundation
import Testing

@Suite("Operator tokens, roles and the audit log")
struct OperatorTokenTests {
  @Test("tokens authenticate without a certificate, each role as far as it goes; every write is audited")
  func rolesAndAudit() async throws {
    try await Fleet.with { fleet in
      let admin = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("tk-1"))
      func client(_ secret: String) throws -> ControllerClient {
        try ControllerClient(
          baseURL: fleet.controllerURL, caFile: "\(fleet.certs)/ca.crt", token: secret, signer: try fleet.signingKey)
      }
      let reader = try await admin.createToken(name: "dashboard", role: .reader)
      let deployer = try await admin.createToken(name: "ci-bot", role: .deployer)
      let second = try await admin.createToken(name: "ops", role: .admin)
      #expect(reader.secret.hasPrefix("alt_") && reader.token.createdBy == "airlift-operator")
      await #expect {
        _ = try await admin.createToken(name: "dashboard", role: .admin)
      } throws: { "\($0)".contains("token_exists") }

      // Reader: reads, never writes.
      let asReader = try client(reader.secret)
      defer { Task { await asReader.shutdown() } }
      #expect(try await asReader.devices().map(\.id) == ["tk-1"])
      await #expect {
        _ = try await asReader.createGroup("nope")
      } throws: { "\($0)".contains("read_only") }

      // Deployer: publishes and deploys, but cannot manage tokens or revoke devices.
      let asDeployer = try client(deployer.secret)
      defer { Task { await asDeployer.shutdown() } }
      _ = try await asDeployer.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await asDeployer.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["tk-1"])))
      #expect(deployment.createdBy == "token:ci-bot")
      await #expect {
        _ = try await asDeployer.createToken(name: "escalate", role: .admin)
      } throws: { "\($0)".contains("admin_only") }
      await #expect {
        _ = try await asDeployer.revokeDevice("tk-1")
      } throws: { "\($0)".contains("admin_only") }

      // Admin by token: manages tokens. A revoked token stops working at once.
      let asAdmin = try client(second.secret)
      defer { Task { await asAdmin.shutdown() } }
      try await asAdmin.revokeToken(name: "dashboard")
      await #expect {
        _ = try await asReader.devices()
      } throws: { "\($0)".contains("invalid_token") }
      let listed = try await asAdmin.tokens()
      #expect(listed.map(\.name) == ["ci-bot", "dashboard", "ops"])
      #expect(listed.first { $0.name == "dashboard" }?.revokedAt != nil)
      #expect(listed.first { $0.name == "ci-bot" }?.lastUsedAt != nil)

      // No credential, or a made-up token: 401.
      let http = try fleet.httpClient(certificate: nil, key: nil, anonymous: true)
      defer { _ = http.shutdown() }
      var request = HTTPClientRequest(url: "\(fleet.controllerURL)/api/v1/devices")
      #expect(try await http.execute(request, timeout: requestTimeout).status == .unauthorized)
      request.headers.add(name: "Authorization", value: "Bearer alt_00000000_\(String(repeating: "0", count: 64))")
      #expect(try await http.execute(request, timeout: requestTimeout).status == .unauthorized)

      // The audit log has every write with who did it and how it ended; reads are not in it.
      let log = try await admin.auditLog(limit: 100)
      #expect(log.contains { $0.actor == "token:ci-bot" && $0.path == "/api/v1/deployments" && $0.status == 201 })
      #expect(log.contains { $0.actor == "token:ci-bot" && $0.path == "/api/v1/tokens" && $0.status == 403 })
      #expect(log.contains { $0.actor == "token:ops" && $0.method == "DELETE" && $0.status == 204 })
      #expect(log.contains { $0.actor == "airlift-operator" && $0.path == "/api/v1/tokens" && $0.status == 201 })
      #expect(!log.contains { $0.method == "GET" })
      #expect(log.first?.at ?? .distantPast >= log.last?.at ?? .distantFuture)

      // Only hashes are stored: no secret appears in the database or its write-ahead log.
      for file in ["controller.sqlite", "controller.sqlite-wal"] {
        let bytes = (try? Data(contentsOf: URL(fileURLWithPath: "\(fleet.root)/controller/\(file)"))) ?? Data()
        for secret in [reader.secret, deployer.secret, second.secret] {
          #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file) holds a token secret")
        }
      }
    }
  }
}
