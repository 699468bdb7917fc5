import AirliftAgent
import AirliftClient
import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import Testing

@Suite("Device enrollment with a bootstrap token")
struct EnrollmentTests {
  /// A device that has only the fleet CA, its config and a bootstrap token.
  static func newDevice(_ id: String, fleet: Fleet) throws -> (config: AgentConfig, path: String) {
    let folder = "\(fleet.root)/new/\(id)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let config = try fleet.agentConfig(id, certificate: "\(folder)/device.crt", key: "\(folder)/device.key")
    let path = "\(folder)/agent.json"
    try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: path))
    return (config, path)
  }

  /// Starts `airlift-agent enroll` in the background; its output goes to a file.
  static func startEnroll(_ path: String, token: String) throws -> (ChildProcess, String) {
    let log = path + ".enroll.log"
    let process = try Fleet.startBackground(
      try Fleet.builtBinary("airlift-agent"), ["enroll", "--config", path, "--token", token, "--timeout", "120"],
      log: log)
    return (process, log)
  }

  @Test("a pre-registered device gets its certificate at once, connects with it, and its key never left it")
  func preRegistered() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let token = try await client.createEnrollmentToken(.init(device: "en-1"))
      let (config, path) = try Self.newDevice("en-1", fleet: fleet)
      let (status, output) = try await Fleet.execute(
        try Fleet.builtBinary("airlift-agent"), ["enroll", "--config", path, "--token", token.secret])
      #expect(status == 0, "\(output)")
      let der = try CertificateIdentity.serialNumber(pemFile: config.certificate)
      #expect(try await client.enrollments().first { $0.device == "en-1" }?.serial == der)
      let attributes = try FileManager.default.attributesOfItem(atPath: config.key)
      #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

      try await fleet.startAgent(config)
      #expect(try await client.devices().first { $0.id == "en-1" }?.online == true)

      // The private key is nowhere in the controller's database.
      let key = try String(contentsOfFile: config.key, encoding: .utf8)
      let body = key.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
      for file in ["controller.sqlite", "controller.sqlite-wal"] {
        let bytes = (try? Data(contentsOf: URL(fileURLWithPath: "\(fleet.root)/controller/\(file)"))) ?? Data()
        #expect(bytes.range(of: Data(body.prefix(40).utf8)) == nil)
      }

      // The token was for en-1 only, and is used up.
      let (other, _) = try Self.newDevice("en-9", fleet: fleet)
      _ = other
      let (refused, message) = try await Fleet.execute(
        try Fleet.builtBinary("airlift-agent"),
        ["enroll", "--config", "\(fleet.root)/new/en-9/agent.json", "--token", token.secret])
      #expect(refused != 0 && message.contains("it is for device en-1"), "\(message)")
    }
  }

  @Test("without pre-registration the request waits for an operator, who approves or rejects it")
  func approval() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let token = try await client.createEnrollmentToken(.init(uses: 2))
      let (approved, approvedPath) = try Self.newDevice("en-2", fleet: fleet)
      let (_, rejectedPath) = try Self.newDevice("en-3", fleet: fleet)
      let (first, _) = try Self.startEnroll(approvedPath, token: token.secret)
      let (second, secondLog) = try Self.startEnroll(rejectedPath, token: token.secret)
      try await eventually("both requests to be pending") {
        try await client.enrollments().filter { $0.status == .pending }.count == 2
      }
      #expect(!FileManager.default.fileExists(atPath: approved.certificate))
      // A bootstrap token is not an operator.
      let http = try fleet.httpClient(anonymous: true)
      defer { _ = http.shutdown() }
      var request = HTTPClientRequest(url: "\(fleet.controllerURL)/api/v1/devices")
      request.headers.add(name: "Authorization", value: "Bearer \(token.secret)")
      #expect(try await http.execute(request, timeout: requestTimeout).status == .forbidden)

      let issued = try await client.decideEnrollment("en-2", approve: true)
      #expect(issued.status == .issued && issued.decidedBy == "airlift-operator")
      _ = try await client.decideEnrollment("en-3", approve: false)
      await #expect {
        _ = try await client.decideEnrollment("en-3", approve: true)
      } throws: { "\($0)".contains("not_pending") }
      try await eventually("both enroll commands to end", within: 60) { !first.isRunning && !second.isRunning }
      #expect(first.terminationStatus == 0 && second.terminationStatus == 1)
      #expect(try String(contentsOfFile: secondLog, encoding: .utf8).contains("rejected"))
      try await fleet.startAgent(approved)
      #expect(try await client.devices().first { $0.id == "en-2" }?.online == true)
    }
  }

  @Test(
    "a request for a known, online id is marked; approving it needs --replace, which revokes its current certificate; a CSR for another CN is refused at once"
  )
  func knownDeviceNeedsReplace() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let old = try fleet.agentConfig("en-known")
      try await fleet.startAgent(old)
      try await eventually("the running device's certificate to be seen") {
        try await client.device("en-known").device.online
      }
      let token = try await client.createEnrollmentToken(.init(uses: 3))

      // A CSR whose CN is not the requested id: refused at once, nothing pending.
      let http = try fleet.httpClient(anonymous: true)
      defer { _ = http.shutdown() }
      let key = try DeviceKey.generate()
      var request = HTTPClientRequest(url: "\(fleet.controllerURL)/enroll")
      request.method = .POST
      request.headers.add(name: "Authorization", value: "Bearer \(token.secret)")
      request.body = .bytes(
        Wire.encode(
          API.EnrollmentRequest(
            device: "en-x", csr: try DeviceKey.signingRequest(commonName: "en-other", keyPEM: key))))
      let response = try await http.execute(request, timeout: requestTimeout)
      let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
      #expect(response.status.code == 400 && body.contains("invalid_csr") && body.contains("en-other"), "\(body)")
      #expect(try await client.enrollments().isEmpty)

      // Someone with the shared token asks for the live device's id.
      let (replacement, path) = try Self.newDevice("en-known", fleet: fleet)
      let (enroll, _) = try Self.startEnroll(path, token: token.secret)
      try await eventually("the request to be pending") {
        try await client.enrollments().contains { $0.device == "en-known" && $0.status == .pending }
      }
      let pending = try #require(try await client.enrollments().first { $0.device == "en-known" })
      #expect(pending.knownDevice?.online == true && (pending.knownDevice?.certificates ?? 0) >= 1)
      let listed = try await UpdateFlowIntegrationTests.airlift(fleet, ["enroll", "list"])
      #expect(listed.output.contains("YES, ONLINE"), "\(listed.output)")

      let plain = try await UpdateFlowIntegrationTests.airlift(fleet, ["enroll", "approve", "en-known"])
      #expect(plain.status == 1 && plain.output.contains("device_known") && plain.output.contains("--replace"))
      #expect(FileManager.default.fileExists(atPath: replacement.certificate) == false)

      let replaced = try await UpdateFlowIntegrationTests.airlift(
        fleet, ["enroll", "approve", "en-known", "--replace"])
      #expect(replaced.status == 0, "\(replaced.output)")
      try await eventually("the enroll command to get its certificate", within: 60) { !enroll.isRunning }
      #expect(FileManager.default.fileExists(atPath: replacement.certificate))
      // The old certificate is on the revocation list: its holder is turned away, the new one works.
      let oldSerial = try CertificateIdentity.serialNumber(pemFile: old.certificate)
      #expect(try await #require(fleet.controller?.store).revocations().contains { $0.serial == oldSerial })
      await fleet.stopAgent("en-known")
      try await fleet.startAgent(replacement)
      #expect(try await client.device("en-known").device.online)
      #expect(try await client.device("en-known").device.revokedAt == nil)
    }
  }
}
