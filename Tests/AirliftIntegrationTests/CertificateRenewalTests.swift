import AirliftAgent
import AirliftClient
import AirliftController
import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import Testing

/// Devices live longer than their certificates: the agent renews its own, with certificates valid for seconds.
@Suite("Device certificate renewal: before expiry, proven before use, never stranding a device")
struct CertificateRenewalTests {
  /// A certificate for `id` valid for `seconds` from now, written with a new key into the fleet's folder.
  static func shortLived(_ fleet: Fleet, _ id: String, seconds: Int) throws -> (certificate: String, key: String) {
    let authority = try CertificateAuthority(certificateFile: "\(fleet.certs)/ca.crt", keyFile: "\(fleet.certs)/ca.key")
    let key = try DeviceKey.generate()
    let issued = try authority.issue(
      csrPEM: try DeviceKey.signingRequest(commonName: id, keyPEM: key), commonName: id, validitySeconds: seconds)
    let folder = "\(fleet.root)/short-certs"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let paths = ("\(folder)/\(id).crt", "\(folder)/\(id).key")
    try issued.certificate.write(toFile: paths.0, atomically: true, encoding: .utf8)
    guard
      FileManager.default.createFile(atPath: paths.1, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600])
    else { throw HarnessError.timedOut("writing \(paths.1)") }
    return paths
  }

  static func validity(_ path: String) throws -> CertificateValidity {
    try CertificateValidity(pem: try String(contentsOfFile: path, encoding: .utf8), source: path)
  }

  static func serial(_ path: String) throws -> String { try CertificateIdentity.serialNumber(pemFile: path) }

  @Test(
    "the agent renews at its share of the lifetime with a key it makes, switches once the controller took the new pair, and keeps working after the old certificate expired"
  )
  func renewsBeforeExpiry() async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerNow { $0.deviceCertificateLifetime = 3600 }
      let client = try #require(fleet.client)
      let (certificate, key) = try Self.shortLived(fleet, "renew-1", seconds: 45)
      var config = try fleet.agentConfig("renew-1", certificate: certificate, key: key)
      // Issued certificates start 5 minutes back (clock skew): 0.9 of 45 + 300 s is 10.5 s from now.
      config.renewCertificateAt = 0.9
      config.renewRetry = 2
      let old = try Self.validity(certificate)
      let oldSerial = try Self.serial(certificate)
      let oldKey = try String(contentsOfFile: key, encoding: .utf8)
      try await fleet.startAgent(config)

      try await eventually("the certificate to be renewed", within: 90) {
        (try? Self.serial(certificate)) != oldSerial
      }
      let renewed = try Self.validity(certificate)
      #expect(renewed.notAfter.timeIntervalSince(old.notAfter) > 3000, "\(renewed) after \(old)")
      let newKey = try String(contentsOfFile: key, encoding: .utf8)
      #expect(newKey != oldKey)
      #expect(
        DeviceKey.matches(certificatePEM: try String(contentsOfFile: certificate, encoding: .utf8), keyPEM: newKey))
      let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
      #expect(mode == 0o600)
      #expect(!FileManager.default.fileExists(atPath: "\(certificate).next"))
      #expect(!FileManager.default.fileExists(atPath: "\(key).next"))
      // Renewed when due, not before (a renewed certificate starts 5 minutes before it was issued).
      let renewedAt = renewed.notBefore.addingTimeInterval(300)
      #expect(renewedAt >= old.point(0.9).addingTimeInterval(-2), "renewed at \(renewedAt), due \(old.point(0.9))")

      // The controller shows the new expiry and counts it as expiring within 30 days (it lives an hour).
      try await eventually("the device list to show the renewed expiry") {
        guard let expires = try await client.devices().first(where: { $0.id == "renew-1" })?.certificateExpires
        else { return false }
        return abs(expires.timeIntervalSince(renewed.notAfter)) < 2
      }
      #expect(try await DeviceFloodTests.metric(fleet, "airlift_device_certificates_expiring") == 1)
      // The dashboard warns above the fleet.
      let browser = DashboardTests.Browser(fleet)
      defer { Task { await browser.shutdown() } }
      _ = try await browser.login(try await client.createToken(name: "viewer", role: .reader).secret)
      let page = try await browser.request("/ui/fleet")
      #expect(page.body.contains(#"id="certificate-warning""#) && page.body.contains("1 device certificate(s) expire"))

      // After the old certificate expired the device still connects, reports and installs.
      let wait = old.notAfter.timeIntervalSinceNow + 2
      if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
      _ = try await client.uploadRelease(
        package: "hello", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "1.0.0", target: .init(devices: ["renew-1"])))
      try await eventually("the deployment to complete on the renewed certificate", within: 90) {
        try await client.deployment(deployment.id).status == .completed
      }
      #expect(try await client.deployment(deployment.id).devices.map(\.state) == [.successful])
    }
  }

  @Test("a renewal due while the controller is away is tried again until it is back; the old pair stays meanwhile")
  func renewsAfterOutage() async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerNow()
      let (certificate, key) = try Self.shortLived(fleet, "renew-2", seconds: 60)
      var config = try fleet.agentConfig("renew-2", certificate: certificate, key: key)
      config.renewCertificateAt = 0.9
      config.renewRetry = 2
      let oldSerial = try Self.serial(certificate)
      try await fleet.startAgent(config)
      await fleet.stopController()
      let due = try Self.validity(certificate).point(0.9)
      try await Task.sleep(for: .seconds(max(0, due.timeIntervalSinceNow) + 5))
      #expect(try Self.serial(certificate) == oldSerial)
      #expect(!FileManager.default.fileExists(atPath: "\(key).next"))
      try await fleet.startControllerNow()
      try await eventually("the renewal once the controller is back", within: 60) {
        (try? Self.serial(certificate)) != oldSerial
      }
    }
  }

  @Test("a revoked device's renewal is refused: nothing is issued, and its certificate files stay as they were")
  func revokedIsRefused() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let (certificate, key) = try Self.shortLived(fleet, "renew-3", seconds: 40)
      var config = try fleet.agentConfig("renew-3", certificate: certificate, key: key)
      config.renewCertificateAt = 0.9
      config.renewRetry = 1
      let oldSerial = try Self.serial(certificate)
      let oldKey = try String(contentsOfFile: key, encoding: .utf8)
      try await fleet.startAgent(config)
      _ = try await client.revokeDevice("renew-3", reason: "stolen")
      let due = try Self.validity(certificate).point(0.9)
      try await Task.sleep(for: .seconds(max(0, due.timeIntervalSinceNow) + 4))
      #expect(try Self.serial(certificate) == oldSerial)
      #expect(try String(contentsOfFile: key, encoding: .utf8) == oldKey)
      let store = try #require(fleet.controller?.store)
      #expect(try await store.certificateExpiries()["renew-3"] == nil)
    }
  }

  @Test("a stop between the two renames is finished at the next start; a pending pair that replaced nothing is dropped")
  func interruptedSwap() async throws {
    try await Fleet.with(controller: false) { fleet in
      let (oldCertificate, oldKey) = try Self.shortLived(fleet, "swap-1", seconds: 600)
      let (newCertificate, newKey) = try Self.shortLived(fleet, "swap-1-new", seconds: 600)
      let config = try fleet.agentConfig("swap-1", certificate: oldCertificate, key: oldKey)
      let read = { (path: String) in try String(contentsOfFile: path, encoding: .utf8) }
      let (old, new) = ((try read(oldCertificate), try read(oldKey)), (try read(newCertificate), try read(newKey)))

      // Stopped after the certificate moved: the new certificate beside the old key, the new key waiting.
      try new.0.write(toFile: oldCertificate, atomically: true, encoding: .utf8)
      try new.1.write(toFile: "\(oldKey).next", atomically: true, encoding: .utf8)
      try await Self.recover(config)
      #expect(try read(oldKey) == new.1)
      #expect(DeviceKey.matches(certificatePEM: try read(oldCertificate), keyPEM: try read(oldKey)))
      #expect(!FileManager.default.fileExists(atPath: "\(oldKey).next"))

      // Stopped before either moved: the working pair stays, the pending one goes.
      try old.0.write(toFile: oldCertificate, atomically: true, encoding: .utf8)
      try old.1.write(toFile: oldKey, atomically: true, encoding: .utf8)
      try new.0.write(toFile: "\(oldCertificate).next", atomically: true, encoding: .utf8)
      try new.1.write(toFile: "\(oldKey).next", atomically: true, encoding: .utf8)
      try await Self.recover(config)
      #expect(try read(oldCertificate) == old.0 && read(oldKey) == old.1)
      #expect(!FileManager.default.fileExists(atPath: "\(oldCertificate).next"))
    }
  }

  /// Starts the agent just long enough for its start-up recovery, then stops it.
  static func recover(_ config: AgentConfig) async throws {
    let agent = try Agent(config: config)
    let task = Task { try await agent.run() }
    try await Task.sleep(for: .milliseconds(500))
    task.cancel()
    _ = try? await task.value
  }
}
