import AirliftAgent
import AirliftClient
import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// The controller behind nginx, which terminates TLS, verifies client
/// certificates against the fleet CA and passes them on in a header that the
/// controller believes only from the proxy's address.
@Suite("Behind a TLS-terminating proxy: nginx verifies certificates, the controller trusts only its address")
struct TrustedProxyTests {
  @Test(
    "a device updates entirely through nginx, known by its forwarded certificate; roles hold through the proxy; the header from anywhere else is refused"
  )
  func throughProxy() async throws {
    try await Fleet.with(controller: false) { fleet in
      let proxy = try await TLSProxy.start(in: fleet.root, certs: fleet.certs, controllerPort: fleet.httpsPort)
      defer { proxy.stop() }
      try await fleet.startControllerNow(publicURL: proxy.url, trustedProxies: [TLSProxy.address])
      let client = try #require(fleet.client)

      // A polling device (all of its traffic is HTTPS) that only knows the proxy.
      var config = try PollingDeviceTests.pollingConfig(fleet, "pr-1", period: 1, jitter: 0)
      config.controllerURL = proxy.url
      try await fleet.startAgent(config)
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["pr-1"])))
      try await eventually("pr-1 to install through the proxy") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
      let log = try String(contentsOfFile: "\(proxy.root)/access.log", encoding: .utf8)
      #expect(log.contains("POST /api/v1/device/checkin"))
      #expect(log.contains("GET /artifacts/"))
      #expect(log.contains("POST /api/v1/device/status"))

      // Roles hold through the proxy: an operator reads the API, a device may not.
      let device = try fleet.issueDevice("pr-2")
      let asOperator = try fleet.httpClient()
      let asDevice = try fleet.httpClient(certificate: device.certificate, key: device.key)
      let anonymous = try fleet.httpClient(anonymous: true)
      defer {
        _ = asOperator.shutdown()
        _ = asDevice.shutdown()
        _ = anonymous.shutdown()
      }
      func status(_ http: HTTPClient, _ url: String, headers: [(String, String)] = []) async throws -> (UInt, String) {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: requestTimeout)
        return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
      }
      #expect(try await status(asOperator, "\(proxy.url)/api/v1/devices").0 == 200)
      #expect(try await status(asDevice, "\(proxy.url)/api/v1/devices").0 == 403)
      // No certificate: nginx stops it before the controller.
      #expect(try await status(anonymous, "\(proxy.url)/api/v1/devices").0 == 400)

      // The same header sent straight to the controller, from an address it does not trust: refused.
      let pem = try String(contentsOfFile: "\(fleet.certs)/operator.crt", encoding: .utf8)
      let forged = try await status(
        anonymous, "\(fleet.controllerURL)/api/v1/devices",
        headers: [
          ("X-Client-Cert", pem.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""),
          ("X-Client-Verify", "SUCCESS"),
        ])
      #expect(forged.0 == 403 && forged.1.contains("untrusted_proxy"), "\(forged)")
    }
  }
}
