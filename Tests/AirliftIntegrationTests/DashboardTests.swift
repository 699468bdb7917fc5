import AirliftClient
import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// The web dashboard against a real controller, broker and devices, read the
/// way a browser does: cookies, redirects, HTML and Server-Sent Events.
@Suite("Dashboard: sessions, pages, escaping, live updates")
struct DashboardTests {
  /// A browser-like client: no client certificate, redirects not followed, one cookie jar.
  final class Browser: @unchecked Sendable {
    let http: HTTPClient
    let base: String
    var cookie: String?

    init(_ fleet: Fleet) {
      var tls = TLSConfiguration.makeClientConfiguration()
      tls.trustRoots = .file("\(fleet.certs)/ca.crt")
      var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
      configuration.redirectConfiguration = .disallow
      http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
      base = fleet.controllerURL
    }

    struct Page {
      var status: UInt
      var headers: HTTPHeaders
      var body: String
    }

    func request(
      _ path: String, method: HTTPMethod = .GET, form: String? = nil, json: String? = nil,
      headers extra: [(String, String)] = []
    ) async throws -> Page {
      var request = HTTPClientRequest(url: base + path)
      request.method = method
      if let cookie { request.headers.add(name: "Cookie", value: "airlift_session=\(cookie)") }
      if let form {
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: form))
      } else if let json {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
      }
      for (name, value) in extra { request.headers.add(name: name, value: value) }
      let response = try await http.execute(request, timeout: requestTimeout)
      let body = try await response.body.collect(upTo: 4 << 20)
      return Page(status: response.status.code, headers: response.headers, body: String(buffer: body))
    }

    /// Logs in with `token`; keeps the session cookie.
    func login(_ token: String) async throws -> Page {
      let page = try await request(
        "/ui/login", method: .POST,
        form:
          "token=\(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")&next=%2Fui%2Fdeployments")
      if let setCookie = page.headers["Set-Cookie"].first, let value = setCookie.split(separator: ";").first {
        cookie = String(value.dropFirst("airlift_session=".count))
      }
      return page
    }

    func shutdown() async { try? await http.shutdown() }
  }

  @Test("login sets a Secure HttpOnly SameSite=Strict cookie; pages need it; logout and token revocation end it")
  func sessions() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let browser = Browser(fleet)
      defer { Task { await browser.shutdown() } }

      let anonymous = try await browser.request("/ui/fleet?group=a")
      #expect(anonymous.status == 303)
      #expect(anonymous.headers["Location"].first == "/ui/login?next=/ui/fleet%3Fgroup%3Da")
      // The REST API does not take an anonymous caller because /ui is open.
      #expect(try await browser.request("/api/v1/devices").status == 401)

      let wrong = try await browser.login("alt_0000000000000000_nope")
      #expect(wrong.status == 401)
      #expect(wrong.body.contains("id=\"login-error\""))
      #expect(browser.cookie == nil)

      let token = try await client.createToken(name: "night-shift", role: .deployer)
      let good = try await browser.login(token.secret)
      #expect(good.status == 303)
      #expect(good.headers["Location"].first == "/ui/deployments")
      let setCookie = try #require(good.headers["Set-Cookie"].first)
      for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        #expect(setCookie.contains(attribute), "Set-Cookie lacks \(attribute): \(setCookie)")
      }
      #expect(!setCookie.contains(token.secret), "the cookie must hold a session, not the token")

      let fleetPage = try await browser.request("/ui/fleet")
      #expect(fleetPage.status == 200)
      #expect(fleetPage.body.contains("id=\"whoami\">night-shift · deployer"))
      #expect(fleetPage.headers["Content-Security-Policy"].first?.contains("script-src 'self'") == true)
      // The session reads the REST API too, but a write needs the dashboard's header (no cross-site forms).
      #expect(try await browser.request("/api/v1/devices").status == 200)
      #expect(try await browser.request("/api/v1/fleet/freeze", method: .POST, json: "{}").status == 403)
      let frozen = try await browser.request(
        "/api/v1/fleet/freeze", method: .POST, json: "{}", headers: [("X-Airlift-UI", "1")])
      #expect(frozen.status == 200)
      #expect(try await client.fleet().frozen)

      let logout = try await browser.request("/ui/logout", method: .POST, form: "")
      #expect(logout.status == 303)
      #expect(try await browser.request("/ui/fleet").status == 303)

      _ = try await browser.login(token.secret)
      #expect(try await browser.request("/ui/fleet").status == 200)
      try await client.revokeToken(name: "night-shift")
      #expect(try await browser.request("/ui/fleet").status == 303, "a revoked token's sessions end with it")
    }
  }

  @Test("what devices send is escaped on every page: a <script> attribute or error text never becomes markup")
  func escapesDeviceInput() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let hostile = "<script>alert('owned')</script>"
      let id = try DeviceID("xss-1")
      let device = try fleet.issueDevice("xss-1")
      let mqtt = try fleet.mqttClient(certificate: device.certificate, key: device.key, clientID: "xss-1")
      try await mqtt.connect()
      defer { Task { await mqtt.close() } }
      let checkIn = CheckIn(
        device: id, attributes: ["model": "<img src=x onerror=alert(1)>", "note": hostile],
        installed: ["hello": "0.9.0\"><script>alert(2)</script>"], agentVersion: "t")
      try await mqtt.publish(Topics.device(id, .checkin), payload: Wire.encode(checkIn), qos: 1)
      try await eventually("the hostile check-in") { try await client.devices().contains { $0.id == "xss-1" } }

      let bundle = try ReleaseBundle.make(in: fleet.root, name: "hello-1.0.0.tar.gz")
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      let deployment = try await client.createDeployment(
        API.CreateDeployment(package: "hello", version: "1.0.0", target: .init(devices: ["xss-1"])))
      let downloading = StatusReport(deployment: deployment.id, state: .downloading, seq: 1)
      try await mqtt.publish(Topics.device(id, .status), payload: Wire.encode(downloading), qos: 1)
      let failure = StatusReport(deployment: deployment.id, state: .failed, error: "install said " + hostile, seq: 2)
      try await mqtt.publish(Topics.device(id, .status), payload: Wire.encode(failure), qos: 1)
      try await eventually("the hostile failure") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }

      let token = try await client.createToken(name: "reader", role: .reader)
      let browser = Browser(fleet)
      defer { Task { await browser.shutdown() } }
      _ = try await browser.login(token.secret)
      for path in ["/ui/fleet", "/ui/devices/xss-1", "/ui/deployments", "/ui/deployments/\(deployment.id)"] {
        let page = try await browser.request(path)
        #expect(page.status == 200, "\(path): \(page.status)")
        #expect(!page.body.contains("<script>alert"), "\(path) carries the device's script as markup")
        #expect(!page.body.contains("<img src=x"), "\(path) carries the device's image tag as markup")
        #expect(!page.body.contains("\"><script>"), "\(path) lets a value break out of an attribute")
      }
      let devicePage = try await browser.request("/ui/devices/xss-1")
      #expect(devicePage.body.contains("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;"))
      // Once in the deployment's summary and once on the Failed event; the Downloading event has no error.
      #expect(devicePage.body.components(separatedBy: "install said &lt;script&gt;").count - 1 == 2)
      // A reader sees no buttons that would fail.
      let deploymentPage = try await browser.request("/ui/deployments/\(deployment.id)")
      #expect(!deploymentPage.body.contains("data-action="))
      #expect(deploymentPage.body.contains("· 1 device ·"))
      // The stylesheet and script come from the controller itself; nothing from the internet.
      #expect(!deploymentPage.body.contains("http://") && !deploymentPage.body.contains("https://"))
    }
  }

  @Test("the fleet page filters like `airlift device list`, keeps the filter in its links and explains a bad one")
  func fleetFilters() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      for (index, model) in ["gw-100", "gw-100", "gw-200"].enumerated() {
        _ = try await fleet.startAgent(try fleet.agentConfig("ff-\(index)", attributes: ["model": model]))
      }
      try await eventually("three devices") { try await client.devices().count == 3 }
      let token = try await client.createToken(name: "ops", role: .deployer)
      let browser = Browser(fleet)
      defer { Task { await browser.shutdown() } }
      _ = try await browser.login(token.secret)

      let all = try await browser.request("/ui/fleet")
      #expect(all.body.components(separatedBy: "<tr data-device=").count - 1 == 3)
      #expect(all.body.contains("<svg id=\"chart-model\""))
      #expect(all.body.contains("<span class=\"n\" data-state=\"online\">3</span>"))

      let filtered = try await browser.request("/ui/fleet?attr=model%3Dgw-200&online=true")
      #expect(filtered.body.components(separatedBy: "<tr data-device=").count - 1 == 1)
      #expect(filtered.body.contains("<tr data-device=\"ff-2\">"))
      #expect(filtered.body.contains("value=\"model=gw-200\""))

      let bad = try await browser.request("/ui/fleet?version=%3E%3D1.0.0")
      #expect(bad.status == 400)
      #expect(bad.body.contains("id=\"filter-error\""))
      #expect(bad.body.contains("a version filter needs app=PACKAGE"))

      let missing = try await browser.request("/ui/devices/nobody-here")
      #expect(missing.status == 404)
    }
  }

  @Test("the deployment page's open event stream carries a device's report as it arrives, then ends at Completed")
  func liveUpdates() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let id = try DeviceID("live-1")
      let device = try fleet.issueDevice("live-1")
      let mqtt = try fleet.mqttClient(certificate: device.certificate, key: device.key, clientID: "live-1")
      try await mqtt.connect()
      defer { Task { await mqtt.close() } }
      let checkIn = CheckIn(device: id, attributes: ["model": "gw-1"], installed: [:], agentVersion: "t")
      try await mqtt.publish(Topics.device(id, .checkin), payload: Wire.encode(checkIn), qos: 1)
      try await eventually("the check-in") { try await client.devices().contains { $0.id == "live-1" } }
      let bundle = try ReleaseBundle.make(in: fleet.root, name: "hello-1.0.0.tar.gz")
      _ = try await client.uploadRelease(package: "hello", version: "1.0.0", file: bundle)
      let deployment = try await client.createDeployment(
        API.CreateDeployment(package: "hello", version: "1.0.0", target: .init(devices: ["live-1"])))
      let token = try await client.createToken(name: "watcher", role: .deployer)
      let browser = Browser(fleet)
      defer { Task { await browser.shutdown() } }
      _ = try await browser.login(token.secret)

      var request = HTTPClientRequest(url: browser.base + "/ui/deployments/\(deployment.id)/events")
      request.headers.add(name: "Cookie", value: "airlift_session=\(browser.cookie ?? "")")
      let response = try await browser.http.execute(request, timeout: requestTimeout)
      #expect(response.status == .ok)
      #expect(response.headers["Content-Type"].first == "text/event-stream")
      var received = ""
      var reported = false
      var completed = false
      for try await chunk in response.body {
        received += String(buffer: chunk)
        if !reported && received.contains("data-state=\"Pending\"") {
          reported = true
          let done = StatusReport(deployment: deployment.id, state: .successful, seq: 1)
          try await mqtt.publish(Topics.device(id, .status), payload: Wire.encode(done), qos: 1)
        }
        if reported && received.contains("data-state=\"Successful\"") {
          completed = true
          break
        }
      }
      #expect(completed, "no update with the device's Successful arrived on the open stream")
      #expect(received.hasPrefix("retry: 1000\n\nevent: update\ndata: "))
      // Each SSE line of the fragment is a data: field; the stream ends when the deployment completes.
      #expect(received.contains("id=\"deployment-status\" class=\"pill ok\">Completed<"))
    }
  }
}
