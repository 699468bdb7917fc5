import AirliftClient
import AirliftCore
import AirliftCrypto
import AirliftMQTT
import AsyncHTTPClient
import Foundation
import Testing

@Suite("Revoking a device")
struct RevocationTests {
  @Test("a revoked device is refused by the broker and the controller; its open session is closed; others are not")
  func revokedDeviceIsRefused() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let revoked = try fleet.agentConfig("rv-1")
      try await fleet.startAgent(revoked)
      try await fleet.startAgent(try fleet.agentConfig("rv-2"))
      let serial = try CertificateIdentity.serialNumber(pemFile: revoked.certificate)

      let revocation = try await client.revokeDevice("rv-1", reason: "stolen from the field")
      #expect(revocation.serials == [serial])
      #expect(revocation.crlFile == fleet.crlFile)
      let device = try #require(try await client.device("rv-1").device)
      #expect(device.revokedAt != nil && !device.online)
      await #expect {
        _ = try await client.revokeDevice("never-seen")
      } throws: { "\($0)".contains("device_not_found") }

      // The broker reloads the list within seconds: a new connection with the revoked certificate fails.
      try await eventually("the broker to refuse rv-1", within: 30) {
        let probe = try fleet.mqttClient(
          certificate: revoked.certificate, key: revoked.key, clientID: "rv-1-probe-\(UUID().uuidString.prefix(4))")
        defer { Task { await probe.close() } }
        do {
          try await probe.connect()
          return false
        } catch {
          return true
        }
      }
      let other = try fleet.issueDevice("rv-2")
      let probe = try fleet.mqttClient(certificate: other.certificate, key: other.key, clientID: "rv-2-probe")
      try await probe.connect()
      await probe.close()

      // The controller turns the certificate away on HTTPS too.
      let http = try fleet.httpClient(certificate: revoked.certificate, key: revoked.key)
      defer { _ = http.shutdown() }
      let response = try await http.execute(
        HTTPClientRequest(url: "\(fleet.controllerURL)/api/v1/device/deployment"), timeout: requestTimeout)
      #expect(response.status == .forbidden)
      let body = String(buffer: try await response.body.collect(upTo: 4096))
      #expect(body.contains("certificate_revoked"))

      // The agent's session was closed; its reconnects meet the revocation list.
      try await eventually("rv-1's reconnect to be refused at the TLS handshake", within: 40) {
        let logs = try FileManager.default.contentsOfDirectory(atPath: fleet.root).filter { $0.hasPrefix("broker-") }
        return try logs.contains {
          try String(contentsOfFile: "\(fleet.root)/\($0)", encoding: .utf8).contains("certificate verify failed")
        }
      }
      // The CRL the broker reads is the fleet CA's, and lists the serial.
      let text = try await Fleet.execute("/usr/bin/env", ["openssl", "crl", "-in", fleet.crlFile, "-noout", "-text"])
        .output
      #expect(text.uppercased().contains(serial.uppercased()))
      let verified = try await Fleet.execute(
        "/usr/bin/env", ["openssl", "crl", "-in", fleet.crlFile, "-noout", "-CAfile", "\(fleet.certs)/ca.crt"]
      ).output
      #expect(verified.contains("verify OK"))
    }
  }
}
