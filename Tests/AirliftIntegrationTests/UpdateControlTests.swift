import AirliftAgent
import AirliftClient
import AirliftCore
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What the device owner controls: windows, consent, the update lock, disk
/// limits, and the config errors that explain a mistake.
@Suite("Update control on the device: windows, consent, lock, disk space")
struct UpdateControlTests {
  private func deploy(_ fleet: Fleet, device: String, install: String = ReleaseBundle.recordingInstall, bytes: Int = 0)
    async throws -> API.Deployment
  {
    let client = try #require(fleet.client)
    let bundle = try ReleaseBundle.make(
      in: fleet.root, name: "\(device).tar.gz", install: install, payloadBytes: bytes)
    _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: bundle)
    return try await client.createDeployment(.init(package: "app", version: "1.0.0", target: .init(devices: [device])))
  }

  private func stages(_ fleet: Fleet, _ deployment: String, _ device: String) async throws -> [String] {
    try await #require(fleet.controller?.store).statusEvents(deployment: deployment, device: DeviceID(device))
      .compactMap(\.stage)
  }

  /// A window that is closed now and for the next hours: the hour half a day away, in UTC. Read it once per
  /// test: read again after the hour turns it names another hour (a run at 06:59 failed so).
  private static func closedWindow() -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    return "* \((calendar.component(.hour, from: Date()) + 12) % 24) * * *"
  }

  @Test("while the update lock file exists the agent downloads but does not install; it goes on when the file is gone")
  func updateLock() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("ctl-lock")
      let lock = "\(fleet.root)/maintenance.lock"
      _ = FileManager.default.createFile(atPath: lock, contents: nil)
      config.updateLockFile = lock
      try await fleet.startAgent(config)
      let deployment = try await deploy(fleet, device: config.deviceID)
      try await eventually("the wait for the lock to be reported") {
        try await self.stages(fleet, deployment.id, config.deviceID).contains(
          "waiting for the update lock \(lock) to be removed")
      }
      try await Task.sleep(for: .seconds(1.5))
      #expect(try await client.deployment(deployment.id).devices.first?.state == .downloaded)
      #expect(!FileManager.default.fileExists(atPath: "\(config.installDirectory)/version"))
      try FileManager.default.removeItem(atPath: lock)
      try await eventually("the install") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
    }
  }

  @Test("consent with a closed apply window: a ready event on the socket, then a local apply installs at once")
  func consentOverridesClosedApplyWindow() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("ctl-consent")
      let closedWindow = Self.closedWindow()
      config.consent = true
      config.apply = try UpdateWindow(closedWindow)
      config.timeZone = "UTC"
      try await fleet.startAgent(config)
      let lines = try await EventSocketClient.lines(path: config.eventSocketPath)
      let deployment = try await deploy(fleet, device: config.deviceID)
      var ready: DeviceUpdateEvent?
      for try await line in lines {
        let event = try Wire.decode(DeviceUpdateEvent.self, from: Array(line.utf8), topic: "events")
        if event.event == "ready" {
          ready = event
          break
        }
      }
      let event = try #require(ready)
      #expect(event.state == .downloaded && event.deployment == deployment.id)
      #expect(event.stage?.contains("or the apply window '\(closedWindow)' (opens ") == true)
      let reply = try await EventSocketClient.send(LocalRequest(command: "apply"), path: config.eventSocketPath)
      #expect(reply.ok && reply.message == "installing deployment \(deployment.id)")
      try await eventually("the install") {
        try await client.deployment(deployment.id).devices.first?.state == .successful
      }
      let unknown = try await EventSocketClient.send(LocalRequest(command: "reboot"), path: config.eventSocketPath)
      #expect(!unknown.ok && unknown.message.contains("unknown command 'reboot'"))
    }
  }

  @Test(
    "outside the apply window a downloaded update waits and says until when; outside the schedule nothing downloads")
  func closedWindows() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let closedWindow = Self.closedWindow()
      var applyLater = try fleet.agentConfig("ctl-apply")
      applyLater.apply = try UpdateWindow(closedWindow)
      applyLater.timeZone = "UTC"
      var downloadLater = try fleet.agentConfig("ctl-schedule")
      downloadLater.schedule = try UpdateWindow(closedWindow)
      downloadLater.timeZone = "UTC"
      try await fleet.startAgent(applyLater)
      try await fleet.startAgent(downloadLater)
      let bundle = try ReleaseBundle.make(in: fleet.root, payloadBytes: 100_000)
      _ = try await client.uploadRelease(package: "app", version: "1.0.0", file: bundle)
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: [applyLater.deviceID, downloadLater.deviceID])))
      try await eventually("both waits to be reported") {
        let applying = try await self.stages(fleet, deployment.id, applyLater.deviceID)
        let downloading = try await self.stages(fleet, deployment.id, downloadLater.deviceID)
        return applying.contains { $0.hasPrefix("waiting for the apply window '\(closedWindow)' (opens ") }
          && downloading.contains { $0.hasPrefix("waiting for the schedule window '\(closedWindow)' (opens ") }
      }
      try await Task.sleep(for: .seconds(1.5))
      let devices = try await client.deployment(deployment.id).devices
      #expect(devices.first { $0.device == applyLater.deviceID }?.state == .downloaded)
      #expect(devices.first { $0.device == downloadLater.deviceID }?.state == .pending)
      let downloads = (try? FileManager.default.contentsOfDirectory(atPath: "\(downloadLater.dataDirectory)/downloads"))
      #expect(downloads?.isEmpty ?? true)
    }
  }

  @Test("an artifact larger than the free space fails before any byte is written, with the numbers")
  func notEnoughSpace() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("ctl-space")
      let free = try #require(
        try FileManager.default.attributesOfFileSystem(forPath: fleet.root)[.systemFreeSize] as? NSNumber
      ).int64Value
      // Keep more than is free: the disk is shared with tests that write and delete files meanwhile, and a
      // reserve of "all but 1 MB" once let a 2 MB artifact through after another test freed space.
      config.reservedDiskSpace = free + 10_000_000_000
      try await fleet.startAgent(config)
      let deployment = try await deploy(fleet, device: config.deviceID, bytes: 2_000_000)
      try await eventually("the device to fail") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
      let error = try #require(try await client.deployment(deployment.id).devices.first?.error)
      #expect(error.contains("not enough space in \(config.dataDirectory)/downloads: the download needs"))
      #expect(error.contains("must stay free (reservedDiskSpace)"))
      #expect(
        (try? FileManager.default.contentsOfDirectory(atPath: "\(config.dataDirectory)/downloads"))?.isEmpty ?? true)
    }
  }

  /// Whether this machine lets the tests mount a small tmpfs (root with CAP_SYS_ADMIN).
  static let canMount: Bool = {
    let folder = NSTemporaryDirectory() + "airlift-mount-probe-\(getpid())"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    guard mount("tmpfs", folder, "tmpfs", 0, "size=64k") == 0 else { return false }
    umount2(folder, Int32(MNT_DETACH))
    return true
  }()

  @Test(
    "a disk that fills up during the download: Failed with the OS's reason, the partial file removed at once",
    .enabled(if: canMount, "needs permission to mount a small tmpfs"))
  func diskFillsUp() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      var config = try fleet.agentConfig("ctl-full")
      let downloads = "\(config.dataDirectory)/downloads"
      try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
      // A real 3 MB filesystem (tmpfs) for the downloads; needs the mount privilege.
      try #require(mount("tmpfs", downloads, "tmpfs", 0, "size=3m") == 0, "mount: \(String(cString: strerror(errno)))")
      defer { umount2(downloads, Int32(MNT_DETACH)) }
      config.reservedDiskSpace = 0
      // 12 s for the whole file: the disk fills long before it ends, however loaded the machine (at 1 MB/s a
      // busy run once finished the download before the filler was written).
      config.maxBytesPerSecond = 200_000
      try await fleet.startAgent(config)
      let deployment = try await deploy(fleet, device: config.deviceID, bytes: 2_500_000)
      try await eventually("half a megabyte on disk") {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: downloads)) ?? []
        return files.contains {
          ((try? FileManager.default.attributesOfItem(atPath: "\(downloads)/\($0)")[.size] as? NSNumber)?.int64Value
            ?? 0) > 500_000
        }
      }
      // Something else on the device takes the rest of the space.
      let filler = "\(downloads)/other-program.dat"
      _ = FileManager.default.createFile(atPath: filler, contents: nil)
      let handle = try #require(FileHandle(forWritingAtPath: filler))
      while (try? handle.write(contentsOf: Data(count: 64 * 1024))) != nil {}
      try? handle.close()

      try await eventually("the device to fail") {
        try await client.deployment(deployment.id).devices.first?.state == .failed
      }
      let error = try #require(try await client.deployment(deployment.id).devices.first?.error)
      #expect(error.contains("No space left on device") && error.contains("the partial download was removed"))
      #expect(try FileManager.default.contentsOfDirectory(atPath: downloads) == ["other-program.dat"])
      await fleet.stopAgent(config.deviceID)
    }
  }

  @Test("config mistakes name the key and point at the character")
  func configErrors() throws {
    let base: [String: Any] = [
      "deviceID": "d1", "brokerURL": "mqtts://127.0.0.1:1", "controllerURL": "https://127.0.0.1:2",
      "caFile": "ca", "certificate": "c", "key": "k", "dataDirectory": "/tmp/d", "installDirectory": "/tmp/i",
    ]
    func decode(_ extra: [String: Any]) throws -> AgentConfig {
      let data = try JSONSerialization.data(withJSONObject: base.merging(extra) { $1 })
      return try AgentConfig.decode(data, path: "agent.json")
    }
    let good = try decode([
      "period": "15min", "jitter": "30s", "schedule": "* 1-5 * * mon-fri", "apply": "@always", "timeZone": "UTC",
    ])
    #expect(good.period.seconds == 900 && good.jitter.seconds == 30)
    #expect(good.schedule?.expression == "* 1-5 * * mon-fri")
    #expect(try decode(["period": 45]).period.seconds == 45)

    let cases: [([String: Any], String)] = [
      (["schedule": "* 25 * * *"], "'schedule': invalid window '* 25 * * *' at position 3 (hour)"),
      (["apply": "* 22-5 * * *"], "'apply': invalid window '* 22-5 * * *' at position 3"),
      (["period": "15 minutes"], "'period': invalid period '15 minutes' at position 3"),
      (["timeZone": "Mars/Olympus"], "'timeZone': unknown time zone 'Mars/Olympus'"),
      (["maxBoots": 0], "'maxBoots': is 0, out of range: give 1 to 1000"),
      (["recheckInterval": 0], "'recheckInterval': is 0.0, out of range"),
      (["retryMaxDelay": 1e30], "'retryMaxDelay': is 1e+30, out of range"),
      (["reservedDiskSpace": -9_223_372_036_854_775_807], "'reservedDiskSpace': is -9223372036854775807"),
      (["consent": "yes"], "wrong type for 'consent'"),
    ]
    for (extra, message) in cases {
      #expect {
        try decode(extra)
      } throws: { error in
        "\(error)".hasPrefix("agent config agent.json: ") && "\(error)".contains(message)
      }
    }
  }
}
