import AirliftClient
import AsyncHTTPClient
import Foundation
import Testing

@Suite("/healthz and /readyz for service managers and load balancers")
struct ReadinessTests {
  @Test("/readyz is 503 with the reason while the broker is down and 200 again after; /healthz stays 200")
  func readinessFollowsTheBroker() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let http = try fleet.httpClient(anonymous: false)
      defer { _ = http.shutdown() }
      func get(_ path: String) async throws -> (UInt, String) {
        let response = try await http.execute(
          HTTPClientRequest(url: "\(fleet.controllerURL)\(path)"), timeout: requestTimeout)
        let body = try await response.body.collect(upTo: 4096)
        return (response.status.code, String(buffer: body))
      }
      #expect(try await get("/readyz") == (200, "ok\n"))
      // The client's own check has a fixed 10 s request limit, which a loaded fresh-clone CI ran out once.
      try await eventually("the client to see it ready") { await client.isHealthy() }

      fleet.killBroker()
      var answer: (UInt, String) = (0, "")
      try await eventually("/readyz to report the lost broker") {
        answer = try await get("/readyz")
        return answer.0 == 503
      }
      #expect(answer.1.contains("mqtt: connection to the broker lost"))
      #expect(try await get("/healthz") == (200, "ok\n"))
      #expect(await !client.isHealthy())

      try await fleet.startBroker()
      try await eventually("/readyz to be 200 again", within: 60) { try await get("/readyz").0 == 200 }
    }
  }
}
