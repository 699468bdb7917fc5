import AirliftAgent
import AirliftCore
import Foundation
import Synchronization
import Testing

@Suite("device:update events for programs on the device")
struct DeviceEventsTests {
  @Test(
    "the local socket streams every stage as JSON lines; hooks get each event; failing and slow hooks change nothing")
  func socketAndHooks() async throws {
    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let hooks = "\(fleet.root)/hooks"
      let record = "\(fleet.root)/hook-record.jsonl"
      try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
      let scripts = [
        "10-record": "#!/bin/sh\ncat >> '\(record)'\n",
        "20-fail": "#!/bin/sh\necho 'hook says no' >&2\nexit 1\n",
        "30-slow": "#!/bin/sh\nsleep 30\n",
      ]
      for (name, body) in scripts {
        try body.write(toFile: "\(hooks)/\(name)", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(hooks)/\(name)")
      }
      var config = try fleet.agentConfig("device-095")
      config.hooksDirectory = hooks
      config.hookTimeout = 1
      try await fleet.startAgent(config)

      let socket = config.eventSocketPath
      let mode = try #require(try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? NSNumber)
      #expect(mode.intValue & 0o777 == 0o660)
      let lines = try await EventSocketClient.lines(path: socket)
      let seen = Mutex<[DeviceUpdateEvent]>([])
      let reader = Task {
        for try await line in lines {
          let event = try Wire.decode(DeviceUpdateEvent.self, from: Array(line.utf8), topic: "events")
          seen.withLock { $0.append(event) }
        }
      }
      defer { reader.cancel() }

      let bundle = try ReleaseBundle.make(in: fleet.root)
      _ = try await client.uploadRelease(package: "hello", version: "4.0.0", file: bundle)
      let deployment = try await client.createDeployment(
        .init(package: "hello", version: "4.0.0", target: .init(devices: ["device-095"])))
      try await eventually("the deployment to complete") {
        try await client.deployment(deployment.id).status == .completed
      }
      try await eventually("the Successful event on the socket") {
        seen.withLock { $0.last?.state == .successful }
      }
      let events = seen.withLock { $0 }
      let stages = events.map(\.state).reduce(into: [DeviceState]()) { if $0.last != $1 { $0.append($1) } }
      #expect(stages == [.pending, .downloading, .downloaded, .installing, .verifying, .successful])
      #expect(
        events.allSatisfy { $0.event == "device:update" && $0.deployment == deployment.id && $0.version == "4.0.0" })

      // The recording hook saw the same stages, despite its failing and slow neighbours.
      try await eventually("the hook to record Successful", within: 30) {
        (try? String(contentsOfFile: record, encoding: .utf8))?.contains("\"Successful\"") == true
      }
      let recorded = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map {
        try Wire.decode(DeviceUpdateEvent.self, from: Array($0.utf8), topic: "hook").state
      }
      #expect(recorded.contains(.installing))
      #expect(recorded.last == .successful)
    }
  }
}
