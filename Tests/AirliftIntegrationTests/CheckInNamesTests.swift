import AirliftClient
import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// A check-in's channel and app names are checked where they enter; names stored before that check are never
/// trusted when read back.
@Suite("Check-in names")
struct CheckInNamesTests {
  @Test(
    "a check-in that follows a channel that is not a name is refused with 400; one already stored is left out of the channel list, which still answers"
  )
  func oddChannelNames() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let (certificate, key) = try fleet.issueDevice("odd-1")
      let http = try fleet.httpClient(certificate: certificate, key: key)
      defer { _ = http.shutdown() }
      var checkIn = CheckIn(
        device: try DeviceID("odd-1"), attributes: [:], installed: [:], agentVersion: "1",
        follows: ["0": "", "gw-fw": "stable"], transport: .https)
      var request = HTTPClientRequest(url: "\(fleet.controllerURL)/api/v1/device/checkin")
      request.method = .POST
      request.headers.add(name: "Content-Type", value: "application/json")
      request.body = .bytes(Wire.encode(checkIn))
      let refused = try await http.execute(request, timeout: .seconds(30))
      let body = String(buffer: try await refused.body.collect(upTo: 1 << 16))
      #expect(refused.status.code == 400 && body.contains("follows"), "\(refused.status) \(body)")

      // Stored by an older controller, which did not check: the list leaves the odd name out and answers.
      _ = try await #require(fleet.controller?.store).recordCheckIn(checkIn)
      let channels = try await client.channels()
      #expect(channels.map { "\($0.package):\($0.tag)" } == ["gw-fw:stable"], "\(channels)")
      checkIn.follows = ["gw-fw": "stable"]
      request.body = .bytes(Wire.encode(checkIn))
      #expect(try await http.execute(request, timeout: .seconds(30)).status.code == 200)
    }
  }
}
