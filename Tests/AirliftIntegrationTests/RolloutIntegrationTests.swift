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
        let canaryDone = try await #require(
          try store.statusEvents(deployment: created.id, device: DeviceID(first[0])).last?.time)
        for other in ids where other != first[0] {
          let firstEvent = try await #require(
            try store.statusEvents(deployment: created.id, device: DeviceID(other)).first)
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
        let events = try await #require(fleet.controller?.store).statusEvents(
          deployment: created.id, device: DeviceID(device.device))
        #expect(events.isEmpty)
      }
    }
  }

  @Test("a stage timeout ends an install that hangs: Failed with the stage and the limit")
  func installStageTimeout() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("ro-slow"))
      let hanging = ReleaseBundle.recordingInstall + "\nsleep 30\n"
      _ = try await client.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root, install: hanging))
      var request = API.CreateDeployment(package: "app", version: "1.0.0", target: .init(devices: ["ro-slow"]))
      request.installTimeout = 1
      let created = try await client.createDeployment(request)
      #expect(created.installTimeout == 1)
      try await eventually("the install to time out") {
        try await client.deployment(created.id).devices.first?.state == .failed
      }
      let device = try #require(try await client.deployment(created.id).devices.first)
      #expect(device.error == "the install did not finish within the deployment's 1 s")
    }
  }

  @Test("a device that never comes online fails at the device timeout, with the reason")
  func unreachableDeviceTimesOut() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let created = try await client.createDeployment(
        .init(
          package: "app", version: "1.0.0", target: .init(devices: ["ro-ghost"]), deviceTimeout: 2,
          allowUnknownDevices: true))
      try await eventually("the device to time out") {
        try await client.deployment(created.id).devices.first?.state == .failed
      }
      let device = try #require(try await client.deployment(created.id).devices.first)
      #expect(device.error == "timed out: the device did not start within 2 s (unreachable?)")
      #expect(try await client.deployment(created.id).status == .completed)
    }
  }
}

@Suite("Emergency stop and approval")
struct FreezeAndApprovalTests {
  @Test("freeze pauses what runs and holds what is new; resume is refused while frozen; thaw lets both go")
  func freezeAndThaw() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let ids = ["fz-1", "fz-2", "fz-3"]
      for id in ids { try await fleet.startAgent(try fleet.agentConfig(id)) }
      for version in ["1.0.0", "1.1.0"] {
        let bundle = try ReleaseBundle.make(in: fleet.root, name: "app-\(version).tar.gz")
        _ = try await client.uploadRelease(package: "app", version: version, file: bundle)
      }
      // A rollout that stays active: its second phase waits for promotion.
      let running = try await client.createDeployment(
        .init(
          package: "app", version: "1.0.0", target: .init(devices: ["fz-1", "fz-3"]),
          rollout: RolloutPlan(phases: [.count(1), .percent(100)], manualPromotion: true)))
      try await eventually("the first phase to end") {
        try await client.deployment(running.id).rollout?.note?.contains("waiting for `airlift deploy promote`") == true
      }

      let frozen = try await client.changeFleet("freeze", reason: "bad batch reported by support")
      #expect(frozen.frozen && frozen.reason == "bad batch reported by support")
      let paused = try await client.deployment(running.id)
      #expect(paused.status == .paused && paused.reason == "fleet frozen: bad batch reported by support")
      await #expect {
        _ = try await client.changeDeployment(running.id, action: "promote")
      } throws: { "\($0)".contains("invalid_transition") }
      let held = try await client.createDeployment(
        .init(package: "app", version: "1.1.0", target: .init(devices: ["fz-2"])))
      #expect(held.status == .paused)
      #expect(held.reason == "fleet frozen: bad batch reported by support")
      await #expect {
        _ = try await client.changeDeployment(held.id, action: "resume")
      } throws: { "\($0)".contains("fleet_frozen") }
      try await Task.sleep(for: .seconds(1.5))
      #expect(try await client.deployment(held.id).devices.first?.state == .pending)

      let thawed = try await client.changeFleet("thaw")
      #expect(!thawed.frozen)
      try await eventually("the held deployment to run") {
        try await client.deployment(held.id).status == .completed
      }
      #expect(try await client.deployment(held.id).devices.first?.state == .successful)
      #expect(try await client.deployment(running.id).status == .active)
      _ = try await client.changeDeployment(running.id, action: "promote")
      try await eventually("the resumed rollout to complete") {
        try await client.deployment(running.id).status == .completed
      }
    }
  }

  @Test("a deployment that needs approval waits until a second operator approves; its creator cannot")
  func twoOperatorApproval() async throws {
    try await Fleet.with(controller: false) { fleet in
      try Fleet.run("\(Fleet.repository)/Certs/new-operator", ["airlift-second", "--out", fleet.certs])
      try await fleet.startControllerNow(operators: ["airlift-operator", "airlift-second"])
      let client = try #require(fleet.client)
      let second = try ControllerClient(
        baseURL: fleet.controllerURL, caFile: "\(fleet.certs)/ca.crt",
        certificate: "\(fleet.certs)/operators/airlift-second.crt", key: "\(fleet.certs)/operators/airlift-second.key")
      defer { Task { await second.shutdown() } }
      try await fleet.startAgent(try fleet.agentConfig("ap-1"))
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let created = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["ap-1"]), needsApproval: true))
      #expect(created.status == .scheduled && created.createdBy == "airlift-operator")
      await #expect {
        _ = try await client.changeDeployment(created.id, action: "approve")
      } throws: { "\($0)".contains("approval_refused") && "\($0)".contains("a second operator must approve it") }
      try await Task.sleep(for: .seconds(1.5))
      #expect(try await client.deployment(created.id).status == .scheduled)

      let approved = try await second.changeDeployment(created.id, action: "approve")
      #expect(approved.approvedBy == "airlift-second")
      try await eventually("the approved deployment to complete") {
        try await client.deployment(created.id).status == .completed
      }
    }
  }
}

@Suite("Targeting by policy expression")
struct PolicyTargetingTests {
  @Test("a dynamic group follows the devices' attributes; a deployment to it reaches a device that starts matching")
  func dynamicGroup() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("dg-1", attributes: ["model": "gw-200", "region": "eu"]))
      try await fleet.startAgent(try fleet.agentConfig("dg-2", attributes: ["model": "gw-200", "region": "us"]))
      try await fleet.startAgent(try fleet.agentConfig("dg-3", attributes: ["model": "gw-100", "region": "eu"]))
      let group = try await client.createGroup(
        "eu-200", expression: #"model == "gw-200" && region in ["eu", "uk"] && !installed("app")"#)
      #expect(group.devices == ["dg-1"])
      #expect(try await client.devices(matching: #"region == "eu""#).map(\.id) == ["dg-1", "dg-3"])
      await #expect {
        _ = try await client.addToGroup("eu-200", devices: ["dg-2"])
      } throws: { "\($0)".contains("dynamic_group") }
      await #expect {
        _ = try await client.createGroup("bad", expression: #"model = "gw-200""#)
      } throws: { "\($0)".contains("invalid_expression") && "\($0)".contains("at position 7") }

      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(group: "eu-200")))
      #expect(deployment.devices.map(\.device) == ["dg-1"])
      // dg-2 moves to the UK: at its next check-in it joins the group and the deployment.
      await fleet.stopAgent("dg-2")
      try await fleet.startAgent(try fleet.agentConfig("dg-2", attributes: ["model": "gw-200", "region": "uk"]))
      try await eventually("dg-2 to join and finish") {
        let devices = try await client.deployment(deployment.id).devices
        return devices.count == 2 && devices.allSatisfy { $0.state == .successful }
      }
      // Having installed the app, both now fall out of the group.
      try await eventually("the group to empty as the devices report the app") {
        try await client.group("eu-200").devices.isEmpty
      }
    }
  }
}

@Suite("Rollback after an abort")
struct RollbackOnAbortTests {
  @Test("an aborted rollout puts the devices that had updated back on the version each ran before")
  func rollsBackUpdatedDevices() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let ids = ["rb-1", "rb-2", "rb-3", "rb-4"]
      for id in ids { try await fleet.startAgent(try fleet.agentConfig(id)) }
      _ = try await client.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root, name: "v1.tar.gz"))
      let first = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ids)))
      try await eventually("1.0.0 everywhere") { try await client.deployment(first.id).status == .completed }
      try await eventually("the inventory to show 1.0.0") {
        try await client.devices().filter { $0.installed["app"] == "1.0.0" }.count == 4
      }

      // Going back to 1.0.0 is a downgrade: its manifest must be signed to allow it.
      let resigned = try await client.signRelease(
        package: "app", version: "1.0.0", key: try fleet.signingKey, expires: Date() + 3600, downgrade: true)
      #expect(resigned.signature?.downgrade == true)
      // 2.0.0 fails on rb-4 only.
      let install = ReleaseBundle.recordingInstall + "\ncase \"$AIRLIFT_DEVICE_ID\" in *-4) exit 5 ;; esac\n"
      _ = try await client.uploadRelease(
        package: "app", version: "2.0.0",
        file: try ReleaseBundle.make(in: fleet.root, name: "v2.tar.gz", install: install))
      let second = try await client.createDeployment(
        .init(
          package: "app", version: "2.0.0", target: .init(devices: ids),
          rollout: RolloutPlan(phases: [.percent(100)], failure: FailurePolicy(maxFailures: 0, rollBackOnAbort: true))))
      try await eventually("the abort and its rollback") {
        try await !client.deployment(second.id).rolledBackBy.isEmpty
      }
      let aborted = try await client.deployment(second.id)
      #expect(aborted.status == .aborted)
      let updated = aborted.devices.filter { $0.state == .successful }
      #expect(updated.allSatisfy { $0.fromVersion == "1.0.0" })
      let rollback = try await client.deployment(aborted.rolledBackBy[0])
      #expect(rollback.linkedTo == second.id && rollback.release.version == "1.0.0" && rollback.downgrade)
      #expect(Set(rollback.devices.map(\.device)) == Set(updated.map(\.device)))
      try await eventually("the rollback to complete") {
        try await client.deployment(rollback.id).status == .completed
      }
      #expect(try await client.deployment(rollback.id).devices.allSatisfy { $0.state == .successful })
      try await eventually("every device to run 1.0.0 again") {
        try await client.devices().allSatisfy { $0.installed["app"] == "1.0.0" }
      }
    }
  }
}

@Suite("Update channels")
struct ChannelTests {
  @Test("moving a tag updates the devices that follow it, with the channel's rollout; others stay")
  func followers() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      for id in ["ch-1", "ch-2"] {
        var config = try fleet.agentConfig(id)
        config.channels = ["app": "stable"]
        try await fleet.startAgent(config)
      }
      try await fleet.startAgent(try fleet.agentConfig("ch-other"))
      for version in ["1.0.0", "1.1.0"] {
        _ = try await client.uploadRelease(
          package: "app", version: version, file: try ReleaseBundle.make(in: fleet.root, name: "\(version).tar.gz"))
      }
      let channel = try await client.setChannel(
        package: "app", tag: "stable", rollout: RolloutPlan(phases: [.count(1), .percent(100)]))
      #expect(channel.followers == ["ch-1", "ch-2"])

      for version in ["1.0.0", "1.1.0"] {
        _ = try await client.setTag(package: "app", tag: "stable", version: version, locked: false)
        try await eventually("the followers to run \(version)") {
          let devices = try await client.devices()
          return devices.filter { $0.id.hasPrefix("ch-") && $0.id != "ch-other" }
            .allSatisfy { $0.installed["app"] == version }
        }
      }
      let deployments = try await client.deployments().filter { $0.target.channel == "app:stable" }
      #expect(deployments.count == 2)
      #expect(deployments.allSatisfy { $0.rollout?.plan.phases == [.count(1), .percent(100)] })
      #expect(Set(deployments.flatMap { $0.devices.map(\.device) }) == ["ch-1", "ch-2"])
      #expect(try await client.devices().first { $0.id == "ch-other" }?.installed["app"] == nil)
    }
  }
}

@Suite("Canaries from an earlier rollout")
struct CanariesFromTests {
  /// The controller's stable order (FNV-1a of the id), to pick a device that would naturally go first.
  static func key(_ id: String) -> UInt64 {
    id.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
  }

  @Test("--canaries-from starts with the devices that were the canaries of the earlier rollout")
  func sameCanaries() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let ids = ["cf-1", "cf-2", "cf-3", "cf-4"]
      for id in ids { try await fleet.startAgent(try fleet.agentConfig(id)) }
      for version in ["1.0.0", "1.1.0"] {
        _ = try await client.uploadRelease(
          package: "app", version: version, file: try ReleaseBundle.make(in: fleet.root, name: "\(version).tar.gz"))
      }
      // The device that would lead any rollout is left out of the first one.
      let leader = try #require(ids.min { Self.key($0) < Self.key($1) })
      let plan = RolloutPlan(phases: [.count(1), .percent(100)])
      let first = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ids.filter { $0 != leader }), rollout: plan))
      let canary = try #require(first.devices.first(where: \.started)?.device)
      #expect(canary != leader)
      try await eventually("the first rollout to complete") {
        try await client.deployment(first.id).status == .completed
      }

      var request = API.CreateDeployment(package: "app", version: "1.1.0", target: .init(devices: ids), rollout: plan)
      request.canariesFrom = first.id
      let second = try await client.createDeployment(request)
      #expect(second.devices.filter(\.started).map(\.device) == [canary])
      request.canariesFrom = nil
      request.rollout = nil
      request.canariesFrom = first.id
      await #expect {
        _ = try await client.createDeployment(request)
      } throws: { "\($0)".contains("canariesFrom: it orders a phased rollout") }
    }
  }
}

@Suite("Group maintenance windows")
struct MaintenanceWindowTests {
  @Test("outside its group's window a device is not started; when the window opens it is")
  func waitsForTheWindow() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      for id in ["mw-1", "mw-2"] { try await fleet.startAgent(try fleet.agentConfig(id)) }
      _ = try await client.createGroup("night-only")
      _ = try await client.addToGroup("night-only", devices: ["mw-1"])
      var calendar = Calendar(identifier: .gregorian)
      calendar.timeZone = TimeZone(identifier: "UTC")!
      let closed = "* \((calendar.component(.hour, from: Date()) + 12) % 24) * * *"
      let group = try await client.setGroupWindow("night-only", window: closed)
      #expect(group.window == closed)
      await #expect {
        _ = try await client.setGroupWindow("night-only", window: "* 25 * * *")
      } throws: { "\($0)".contains("invalid_window") && "\($0)".contains("at position 3") }

      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root))
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["mw-1", "mw-2"])))
      try await eventually("mw-2 to finish") {
        try await client.deployment(deployment.id).devices.first { $0.device == "mw-2" }?.state == .successful
      }
      try await Task.sleep(for: .seconds(1.5))
      let waiting = try #require(try await client.deployment(deployment.id).devices.first { $0.device == "mw-1" })
      #expect(waiting.state == .pending && !waiting.started)

      _ = try await client.setGroupWindow("night-only", window: "@always")
      try await eventually("mw-1 to be started in its window and finish") {
        try await client.deployment(deployment.id).status == .completed
      }
    }
  }
}

@Suite("Distribution policies")
struct DistributionPolicyTests {
  @Test("an idle device gets the newest release whose policy it matches and that is newer than what it runs")
  func newestMatchingRelease() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      try await fleet.startAgent(try fleet.agentConfig("dp-eu", attributes: ["model": "gw-200", "region": "eu"]))
      try await fleet.startAgent(try fleet.agentConfig("dp-us", attributes: ["model": "gw-200", "region": "us"]))
      // Follows a channel of the package: the channel's tag decides its version, not policies.
      var follower = try fleet.agentConfig("dp-eu-ch", attributes: ["model": "gw-200", "region": "eu"])
      follower.channels = ["app": "stable"]
      try await fleet.startAgent(follower)
      for version in ["1.0.0", "1.1.0", "1.2.0"] {
        _ = try await client.uploadRelease(
          package: "app", version: version, file: try ReleaseBundle.make(in: fleet.root, name: "\(version).tar.gz"))
      }
      let base = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["dp-eu", "dp-us", "dp-eu-ch"])))
      try await eventually("1.0.0 on both") { try await client.deployment(base.id).status == .completed }
      try await eventually("the inventory") {
        try await client.devices().allSatisfy { $0.installed["app"] == "1.0.0" }
      }

      let policy = try await client.setReleasePolicy(package: "app", version: "1.1.0", policy: #"region == "eu""#)
      #expect(policy.policy == #"region == "eu""#)
      _ = try await client.setReleasePolicy(
        package: "app", version: "1.2.0", policy: #"region == "eu" && model == "gw-300""#)
      try await eventually("dp-eu to be offered 1.1.0 and install it") {
        try await client.devices().first { $0.id == "dp-eu" }?.installed["app"] == "1.1.0"
      }
      try await Task.sleep(for: .seconds(1.5))
      let devices = try await client.devices()
      #expect(devices.first { $0.id == "dp-us" }?.installed["app"] == "1.0.0")
      #expect(devices.first { $0.id == "dp-eu" }?.installed["app"] == "1.1.0")
      #expect(devices.first { $0.id == "dp-eu-ch" }?.installed["app"] == "1.0.0")
      #expect(devices.first { $0.id == "dp-eu-ch" }?.channels == ["app": "stable"])
      let offered = try await client.deployments().filter(\.target.releasePolicy)
      #expect(offered.map(\.release.version).sorted() == ["1.1.0", "1.2.0"])
      #expect(offered.first { $0.release.version == "1.2.0" }?.devices.isEmpty == true)
      await #expect {
        _ = try await client.setReleasePolicy(package: "app", version: "1.1.0", policy: "region ==")
      } throws: { "\($0)".contains("invalid_expression") }
    }
  }
}

@Suite("Retries of the whole update")
struct WholeUpdateRetryTests {
  @Test(
    "a device that failed gets the whole update again while it has retries; a late report of the first try moves nothing"
  )
  func retriesTheUpdate() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      for id in ["rt-1", "rt-2"] { try await fleet.startAgent(try fleet.agentConfig(id)) }
      // Fails the first time on each device, works the second time.
      let flaky =
        "#!/bin/sh\nmkdir -p \"$AIRLIFT_INSTALL_DIR\"\nif [ ! -e \"$AIRLIFT_INSTALL_DIR/tried\" ]; then\n"
        + "  touch \"$AIRLIFT_INSTALL_DIR/tried\"; echo 'flash busy' >&2; exit 3\nfi\n"
        + "printf '%s' \"$AIRLIFT_VERSION\" > \"$AIRLIFT_INSTALL_DIR/version\"\n"
      _ = try await client.uploadRelease(
        package: "app", version: "1.0.0", file: try ReleaseBundle.make(in: fleet.root, install: flaky))
      var withRetry = API.CreateDeployment(package: "app", version: "1.0.0", target: .init(devices: ["rt-1"]))
      withRetry.retries = 1
      let retried = try await client.createDeployment(withRetry)
      let once = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["rt-2"])))
      try await eventually("both to finish") {
        let first = try await client.deployment(retried.id).status
        let second = try await client.deployment(once.id).status
        return first == .completed && second == .completed
      }
      let device = try #require(try await client.deployment(retried.id).devices.first)
      #expect(device.state == .successful && device.round == 2)
      let states = try await #require(fleet.controller?.store).statusEvents(
        deployment: retried.id, device: DeviceID("rt-1"))
      #expect(states.contains { $0.state == .failed && ($0.error ?? "").contains("flash busy") })
      #expect(states.contains { ($0.error ?? "").hasPrefix("try 2 of 2 after:") })
      #expect(states.last?.state == .successful)
      #expect(try await client.deployment(once.id).devices.first?.state == .failed)
    }
  }
}
