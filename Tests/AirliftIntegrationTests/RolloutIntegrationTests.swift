import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

/// Phased rollouts with real agents: phases, promotion, the failure policy, unreachable devices.
@Suite("Phased rollouts with real agents")
struct RolloutIntegrationTests {
  private func fleetOf(_ fleet: Fleet, _ ids: [String]) async throws {
    for id in ids { try await fleet.startAgent(try fleet.agentConfig(id)) }
  }

  @Test("the canary phase goes first; the rest start only once it succeeded; the same canary leads the next release")
  func phasesWithThreshold() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let ids = ["ro-a", "ro-b", "ro-c", "ro-d"]
      try await fleetOf(fleet, ids)
      var canaries: [String] = []
      for version in ["1.0.0", "1.1.0"] {
        let bundle = try ReleaseBundle.make(in: fleet.root, name: "app-\(version).tar.gz")
        _ = try await client.uploadRelease(package: "app", version: version, file: bundle)
        let created = try await client.createDeployment(
          .init(
            package: "app", version: version, target: .init(devices: ids),
            rollout: RolloutPlan(phases: [.count(1), .percent(100)], successThreshold: 100)))
        let first = created.devices.filter(\.started).map(\.device)
        #expect(first.count == 1)
        #expect(created.rollout?.phase == 1)
        try await eventually("the canary to succeed") {
          try await client.deployment(created.id).devices.first { $0.device == first[0] }?.state == .successful
        }
        try await eventually("the deployment to complete") {
          try await client.deployment(created.id).status == .completed
        }
        let done = try await client.deployment(created.id)
        #expect(done.rollout?.phase == 2)
        #expect(done.devices.allSatisfy { $0.state == .successful && $0.started })
        // Nobody but the canary started before it had succeeded.
        let store = try #require(fleet.controller?.store)
        let canaryDone = try #require(
          try store.statusEvents(deployment: created.id, device: DeviceID(first[0])).last?.time)
        for other in ids where other != first[0] {
          let firstEvent = try #require(try store.statusEvents(deployment: created.id, device: DeviceID(other)).first)
          #expect(firstEvent.time >= canaryDone, "\(other) started before the canary finished")
        }
        canaries.append(first[0])
      }
      #expect(canaries[0] == canaries[1])
    }
  }

  @Test("with --manual the next phase waits for promote, and says so")
  func manualPromotion() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let ids = ["ro-m1", "ro-m2", "ro-m3"]
      try await fleetOf(fleet, ids)
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let created = try await client.createDeployment(
        .init(
          package: "app", version: "1.0.0", target: .init(devices: ids),
          rollout: RolloutPlan(phases: [.count(1), .percent(100)], manualPromotion: true)))
      try await eventually("the gate to be reported") {
        try await client.deployment(created.id).rollout?.note?.contains("waiting for `airlift deploy promote`") == true
      }
      try await Task.sleep(for: .seconds(1))
      #expect(try await client.deployment(created.id).devices.filter(\.started).count == 1)
      let promoted = try await client.changeDeployment(created.id, action: "promote")
      #expect(promoted.rollout?.phase == 2)
      try await eventually("the deployment to complete") {
        try await client.deployment(created.id).status == .completed
      }
    }
  }

  @Test("failures past the policy abort the rollout: the reason is recorded and waiting devices never start")
  func autoAbort() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let ids = ["ro-f1", "ro-f2", "ro-f3", "ro-f4", "ro-f5"]
      try await fleetOf(fleet, ids)
      let failing = ReleaseBundle.recordingInstall + "\necho 'firmware does not fit this board' >&2\nexit 2\n"
      _ = try await client.uploadRelease(
        package: "app", version: "2.0.0", file: try ReleaseBundle.make(in: fleet.root, install: failing))
      let created = try await client.createDeployment(
        .init(
          package: "app", version: "2.0.0", target: .init(devices: ids),
          rollout: RolloutPlan(phases: [.count(2), .percent(100)], failure: FailurePolicy(maxFailures: 1))))
      try await eventually("the policy to abort it") {
        try await client.deployment(created.id).status == .aborted
      }
      let aborted = try await client.deployment(created.id)
      #expect(aborted.reason == "stopped by its failure policy: 2 devices failed overall, more than the 1 allowed")
      #expect(aborted.devices.filter(\.started).count == 2)
      #expect(aborted.devices.filter { !$0.started }.allSatisfy { $0.state == .pending })
      // Nothing reached the devices that waited.
      for device in aborted.devices where !device.started {
        let events = try #require(fleet.controller?.store).statusEvents(
          deployment: created.id, device: DeviceID(device.device))
        #expect(events.isEmpty)
      }
    }
  }

  @Test("a device that never comes online fails at the device timeout, with the reason")
  func unreachableDeviceTimesOut() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let created = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["ro-ghost"]), deviceTimeout: 2))
      try await eventually("the device to time out") {
        try await client.deployment(created.id).devices.first?.state == .failed
      }
      let device = try #require(try await client.deployment(created.id).devices.first)
      #expect(device.error == "timed out: the device did not start within 2 s (unreachable?)")
      #expect(try await client.deployment(created.id).status == .completed)
    }
  }
}
