import AirliftCore
import Foundation
import Testing

@testable import AirliftController

@Suite("Retention in the store: old reports of finished deployments go in batches, final states stay")
struct StoreRetentionTests {
  @Test(
    "a sweep drops a finished deployment's reports in batches and marks it; a live deployment keeps all of its own",
    arguments: StoreKind.allCases)
  func statusRetention(kind: StoreKind) async throws {
    let store = try ControllerStore(location: try await kind.newLocation())
    let finished = try await StoreTests.seed(store, devices: ["rt-1", "rt-2", "rt-3"], id: "dep-finished")
    for device in ["rt-1", "rt-2", "rt-3"] {
      _ = try await store.recordStatuses((1...4).map { (try DeviceID(device), StoreTests.report(finished, $0)) })
    }
    #expect(try await store.deployment(id: finished)?.status == .completed)
    let live = try await StoreTests.seed(store, devices: ["rt-4"], id: "dep-live")
    _ = try await store.recordStatuses([(try DeviceID("rt-4"), StoreTests.report(live, 1))])

    // Nothing is old enough yet.
    let early = try await store.pruneStatusEvents(before: Date().addingTimeInterval(-86_400), batch: 100)
    #expect(early == .init(events: 0, deployments: 0))

    // Everything is, a day from now: 5 rows a batch, so several transactions.
    let later = Date().addingTimeInterval(86_400)
    let swept = try await store.pruneStatusEvents(before: later, batch: 5, now: later)
    #expect(swept.deployments == 1)
    #expect(swept.events >= 12, "\(swept)")
    #expect(try await store.statusEvents(deployment: finished, device: DeviceID("rt-1")).isEmpty)
    let after = try #require(try await store.deployment(id: finished))
    #expect(after.eventsPrunedAt != nil)
    #expect(after.devices.map(\.state) == [.successful, .successful, .successful])
    #expect(
      try await store.statusEvents(deployment: live, device: DeviceID("rt-4")).map(\.state).contains(.downloading))
    #expect(try await store.deployment(id: live)?.eventsPrunedAt == nil)

    // A second sweep finds nothing more.
    #expect(try await store.pruneStatusEvents(before: later, batch: 5, now: later) == .init(events: 0, deployments: 0))
  }

  @Test("statusRetention's numbers are checked when the config is read, naming the key and the range")
  func configRanges() throws {
    func decode(_ retention: String) throws -> ControllerConfig {
      try JSONDecoder().decode(
        ControllerConfig.self, from: Data(#"{"dataDirectory": "/tmp/x", "statusRetention": \#(retention)}"#.utf8))
    }
    #expect(try decode("{}").statusRetention == StatusRetention(days: 90, batch: 5000, every: 3600))
    #expect(try decode(#"{"days": 7}"#).statusRetention.days == 7)
    for (bad, key) in [(#"{"days": 0}"#, "days"), (#"{"batch": 10}"#, "batch"), (#"{"every": 1}"#, "every")] {
      #expect { _ = try decode(bad) } throws: { "\($0)".contains(key) && "\($0)".contains("out of range") }
    }
  }
}
