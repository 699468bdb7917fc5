import AirliftAgent
import AirliftClient
import AirliftController
import AirliftCore
import Foundation
import Testing

/// Device Trust Manager's view of a device that should update but cannot be reached: `Retrying`, with the next
/// attempt's time, its notice sent again at growing intervals, until it answers or its device timeout fails it.
@Suite("Devices the controller cannot reach")
struct UnreachableDeviceTests {
  @Test(
    "an offline device is shown Retrying with the next attempt; its notice goes out again, less and less often; back, it installs; one that never comes back fails at the device timeout"
  )
  func retryingUntilReachedOrTimedOut() async throws {
    try await Fleet.with(controller: false) { fleet in
      try await fleet.startControllerNow { $0.redelivery = Redelivery(first: 1, maximum: 4) }
      let client = try #require(fleet.client)
      let back = try fleet.agentConfig("ur-back")
      let gone = try fleet.agentConfig("ur-gone")
      for config in [back, gone] {
        try await fleet.startAgent(config)
        await fleet.stopAgent(config.deviceID)
      }
      try await eventually("both devices to be offline") {
        try await client.devices().filter { $0.id.hasPrefix("ur-") && !$0.online }.count == 2
      }
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))

      // What the broker hands ur-back on its deployment topic while it is away.
      let peek = try fleet.mqttClient(
        certificate: "\(fleet.certs)/devices/ur-back.crt", key: "\(fleet.certs)/devices/ur-back.key",
        clientID: "ur-back")
      try await peek.connect()
      let inbox = Inbox(try await peek.subscribe(Topics.device(try DeviceID("ur-back"), .deployment)))

      let created = Date()
      // A polling device that keeps its check-ins (every 40 s) is not unreachable: it waits for its next one.
      try await fleet.startAgent(try PollingDeviceTests.pollingConfig(fleet, "ur-poll", period: 40, jitter: 0))
      let deployment = try await client.createDeployment(
        .init(
          package: "app", version: "1.0.0", target: .init(devices: ["ur-back", "ur-gone", "ur-poll"]),
          deviceTimeout: 15))
      try await eventually("both offline devices to be Retrying") {
        try await client.deployment(deployment.id).devices.filter { $0.device != "ur-poll" }.allSatisfy {
          $0.state == .retrying && $0.nextAttempt != nil
        }
      }
      let poller = try #require(try await client.deployment(deployment.id).devices.first { $0.device == "ur-poll" })
      #expect(poller.state == .pending && poller.nextAttempt == nil, "\(poller)")
      let shown = try #require(try await client.deployment(deployment.id).devices.first { $0.device == "ur-back" })
      #expect(shown.error?.contains("not reached: the device is offline") == true, "\(shown)")
      let next = try #require(shown.nextAttempt)
      #expect(next > created && next < Date().addingTimeInterval(10), "\(next)")
      let listed = try await UpdateFlowIntegrationTests.airlift(fleet, ["deploy", "show", deployment.id])
      #expect(listed.status == 0 && listed.output.contains("Retrying (next "), "\(listed)")

      // The notice goes out again: the retained copy on subscribing, then each new try.
      func notices() -> Int {
        inbox.all.filter {
          (try? Wire.decode(DeploymentNotice.self, from: $0.payload, topic: $0.topic))?.deployment == deployment.id
        }.count
      }
      try await eventually("the notice to go out twice more") { notices() >= 3 }
      try await eventually("the third try to be recorded") {
        try await client.deployment(deployment.id).devices.first { $0.device == "ur-back" }?.error?.contains("try 4")
          == true
      }
      await peek.close()
      let store = try #require(fleet.controller?.store)
      let tries = try await store.statusEvents(deployment: deployment.id, device: DeviceID("ur-back")).filter {
        $0.state == .retrying
      }
      #expect(tries.count >= 3)
      let gaps = zip(tries, tries.dropFirst()).map { $1.time.timeIntervalSince($0.time) }
      // 1 s, then 2 s, then 4 s (the ticks may only add to each wait).
      #expect(gaps.count >= 2 && gaps[0] >= 1.9 && gaps[1] >= 3.9, "the waits double: \(gaps)")

      // ur-back returns and installs; ur-gone stays away and fails when its 15 s run out.
      try await fleet.startAgent(back)
      try await eventually("ur-back to install") {
        try await client.deployment(deployment.id).devices.first { $0.device == "ur-back" }?.state == .successful
      }
      #expect(try await client.deployment(deployment.id).devices.first { $0.device == "ur-back" }?.nextAttempt == nil)
      try await eventually("ur-gone to fail at its device timeout") {
        try await client.deployment(deployment.id).devices.first { $0.device == "ur-gone" }?.state == .failed
      }
      let failed = try #require(try await client.deployment(deployment.id).devices.first { $0.device == "ur-gone" })
      #expect(failed.error?.contains("did not start within 15 s") == true, "\(failed)")
      #expect(failed.nextAttempt == nil)
    }
  }
}
