import AirliftCore
import Foundation
import Testing

@testable import AirliftController

/// A store under test: a new SQLite file, or a new database on the test
/// run's PostgreSQL server. Every test of the suite runs on both.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
  case sqlite
  case postgres

  var testDescription: String { rawValue }

  func newLocation() async throws -> String {
    switch self {
    case .sqlite:
      let folder = NSTemporaryDirectory() + "airlift-store-" + UUID().uuidString.prefix(8)
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      return "sqlite:\(folder)/controller.sqlite"
    case .postgres:
      return try await PostgresServer.shared().createDatabase(prefix: "store")
    }
  }
}

@Suite("The controller's store, the same tests on SQLite and on PostgreSQL")
struct StoreTests {
  static let blob = String(repeating: "ab", count: 32)

  /// Devices that checked in, a release, and a deployment of it to them all; the deployment's id.
  static func seed(_ store: ControllerStore, devices: [String], id: String = "dep-store") async throws -> String {
    for device in devices {
      try await store.recordCheckIn(
        CheckIn(
          device: DeviceID(device), attributes: ["site": "lab"], installed: ["app": "0.9.0"], agentVersion: "test",
          follows: ["app": "stable"]))
    }
    try await store.recordBlob(sha256: blob, size: 10)
    if try await store.release(ReleaseRef(package: "app", version: "1.0.0")) == nil {
      _ = try await store.addRelease(
        package: "app", version: SemanticVersion("1.0.0"), handler: "script",
        assets: [.init(name: "bundle.tar.gz", sha256: blob)])
    }
    let deployment = try await store.createDeployment(
      NewDeployment(
        id: id, name: nil, release: ReleaseRef(package: "app", version: "1.0.0"), tag: nil,
        target: .init(devices: devices), parameters: ["GREETING": "hi"], maxDevices: nil, deviceTimeout: nil,
        startAt: nil, supersede: false, rollout: nil))
    return deployment.id
  }

  static let fullRun: [DeviceState] = [.downloading, .downloaded, .installing, .successful]

  static func report(_ deployment: String, _ seq: Int) -> StatusReport {
    StatusReport(
      deployment: deployment, state: fullRun[seq - 1], percent: seq * 25,
      time: Date(timeIntervalSince1970: 1_800_000_000 + Double(seq)), seq: Int64(seq))
  }

  @Test(
    "migrations run at start, once: a second store on the same database (a second controller) sees the data",
    arguments: StoreKind.allCases)
  func migrationsOnce(kind: StoreKind) async throws {
    let location = try await kind.newLocation()
    // Two controllers starting at the same moment both migrate the empty database; neither fails.
    async let first = ControllerStore(location: location)
    async let second = ControllerStore(location: location)
    let (one, two) = try await (first, second)
    let id = try await Self.seed(one, devices: ["st-1", "st-2"])
    let seen = try #require(try await two.deployment(id: id))
    #expect(seen.devices.map(\.device).sorted() == ["st-1", "st-2"])
    #expect(seen.parameters == ["GREETING": "hi"])
    // Reopening applies nothing again and keeps everything.
    let third = try ControllerStore(location: location)
    #expect(try await third.deployments().map(\.id) == [id])
    #expect(try await third.desiredDeployment(for: DeviceID("st-1"))?.deploymentID == id)
  }

  @Test(
    "a status event stored twice is kept once and moves its device once; unknown ones are returned",
    arguments: StoreKind.allCases)
  func eventsOnce(kind: StoreKind) async throws {
    let store = try ControllerStore(location: try await kind.newLocation())
    let id = try await Self.seed(store, devices: ["ev-1"])
    let device = try DeviceID("ev-1")
    let batch = (1...4).map { (device, Self.report(id, $0)) }
    #expect(try await store.recordStatuses(batch).isEmpty)
    // A QoS 1 repeat of the whole batch, and the device sending its reports again.
    #expect(try await store.recordStatuses(batch).isEmpty)
    let events = try await store.statusEvents(deployment: id, device: device)
    #expect(events.map(\.state) == Self.fullRun)
    #expect(events.map(\.seq) == [1, 2, 3, 4])
    let deployment = try #require(try await store.deployment(id: id))
    #expect(deployment.devices.first?.state == .successful)
    #expect(deployment.status == .completed)
    let stray = StatusReport(deployment: "dep-nobody-knows", state: .downloading, seq: 9)
    let unknown = try await store.recordStatuses([(device, stray)])
    #expect(unknown.map(\.1.deployment) == ["dep-nobody-knows"])
    #expect(try await store.storedStatusSeqs(device: device, after: 0, through: 100) == [1, 2, 3, 4, 9])
  }

  @Test(
    "reports lost on the way do not hold the device's state back, and arriving late they move nothing",
    arguments: StoreKind.allCases)
  func lostReportsArriveLate(kind: StoreKind) async throws {
    let store = try ControllerStore(location: try await kind.newLocation())
    let id = try await Self.seed(store, devices: ["late-1"])
    let device = try DeviceID("late-1")
    func state() async throws -> DeviceState? { try await store.deployment(id: id)?.devices.first?.state }
    // Downloading (1) and Downloaded (2) were lost; Installing (3) arrives first.
    _ = try await store.recordStatuses([(device, Self.report(id, 3))])
    #expect(try await state() == .installing)
    // The lost ones, sent again: history, not the state.
    _ = try await store.recordStatuses([(device, Self.report(id, 1)), (device, Self.report(id, 2))])
    #expect(try await state() == .installing)
    #expect(try await store.statusEvents(deployment: id, device: device).map(\.seq) == [1, 2, 3])
    _ = try await store.recordStatuses([(device, Self.report(id, 4))])
    #expect(try await state() == .successful)
    // Nothing reopens a finished update, numbered or not.
    let stray = StatusReport(deployment: id, state: .downloading, seq: 5)
    _ = try await store.recordStatuses([(device, stray), (device, StatusReport(deployment: id, state: .installing))])
    #expect(try await state() == .successful)
    #expect(try await store.deployment(id: id)?.status == .completed)
  }

  @Test(
    "two controllers write one device's events at once (a shared subscription splits them): each kept once, the end state right",
    arguments: StoreKind.allCases)
  func twoWriters(kind: StoreKind) async throws {
    let location = try await kind.newLocation()
    let (a, b) = (try ControllerStore(location: location), try ControllerStore(location: location))
    let devices = (1...12).map { "tw-\($0)" }
    let id = try await Self.seed(a, devices: devices)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for (index, device) in devices.enumerated() {
        let deviceID = try DeviceID(device)
        group.addTask {
          // Odd reports to one controller, even ones to the other; the last one to both (a redelivery).
          for seq in 1...4 {
            let store = seq % 2 == index % 2 ? a : b
            try await store.recordStatuses([(deviceID, Self.report(id, seq))])
          }
          try await (index % 2 == 0 ? b : a).recordStatuses([(deviceID, Self.report(id, 4))])
        }
      }
      try await group.waitForAll()
    }
    for device in devices {
      let events = try await b.statusEvents(deployment: id, device: DeviceID(device))
      #expect(events.map(\.seq) == [1, 2, 3, 4], "\(device)")
    }
    let deployment = try #require(try await a.deployment(id: id))
    #expect(deployment.devices.allSatisfy { $0.state == .successful })
    #expect(deployment.status == .completed)
  }

  @Test(
    "dates come back to the millisecond, and JSON lookups (channels, installed versions) agree",
    arguments: StoreKind.allCases)
  func datesAndJSON(kind: StoreKind) async throws {
    let store = try ControllerStore(location: try await kind.newLocation())
    let seen = Date(timeIntervalSince1970: 1_800_000_000.123_456)
    try await store.recordCheckIn(
      CheckIn(
        device: DeviceID("dj-1"), attributes: [:], installed: ["app": "0.9.0"], agentVersion: "test",
        follows: ["app": "stable"]),
      now: seen)
    let device = try #require(try await store.deviceDetail(DeviceID("dj-1"))).device
    #expect(device.firstSeen.timeIntervalSince1970 == 1_800_000_000.123)
    #expect(device.channels == ["app": "stable"])
    let channel = try #require(try await store.channels().first { $0.package == "app" && $0.tag == "stable" })
    #expect(channel.followers == ["dj-1"])
    let id = try await Self.seed(store, devices: ["dj-1"], id: "dep-json")
    let entry = try #require(try await store.deployment(id: id)?.devices.first)
    #expect(entry.fromVersion == "0.9.0")
  }

  @Test(
    "an MQTT device's presence decides whether it is online, whatever order check-ins come in; a polling check-in does",
    arguments: StoreKind.allCases)
  func presenceOutranksCheckIns(kind: StoreKind) async throws {
    let store = try ControllerStore(location: try await kind.newLocation())
    func online(_ id: String) async throws -> Bool? { try await store.deviceDetail(DeviceID(id))?.device.online }
    func checkIn(_ id: String, _ transport: DeviceTransport?) async throws {
      try await store.recordCheckIn(
        CheckIn(device: DeviceID(id), attributes: [:], installed: [:], agentVersion: "test", transport: transport))
    }
    // The first check-in of a device nobody has heard of yet shows it online.
    try await checkIn("pr-1", nil)
    #expect(try await online("pr-1") == true)
    // Its last will, then a check-in handled late on the other stream: still offline.
    try await store.recordPresence(DeviceID("pr-1"), online: false)
    try await checkIn("pr-1", .mqtt)
    try await checkIn("pr-1", nil)
    #expect(try await online("pr-1") == false)
    try await store.recordPresence(DeviceID("pr-1"), online: true)
    #expect(try await online("pr-1") == true)
    // A polling device is online because it checked in, even after an offline mark.
    try await checkIn("pr-2", .https)
    try await store.recordPresence(DeviceID("pr-2"), online: false)
    try await checkIn("pr-2", .https)
    #expect(try await online("pr-2") == true)
  }
}

@Suite("airlift store migrate: SQLite to PostgreSQL")
struct StoreMigrateTests {
  @Test("the copy has every row: counts and digests match, and a store on the copy answers as the original did")
  func sqliteToPostgres() async throws {
    let source = try await StoreKind.sqlite.newLocation()
    let original = try ControllerStore(location: source)
    let devices = ["mg-1", "mg-2", "mg-3"]
    let id = try await StoreTests.seed(original, devices: devices)
    for device in devices {
      try await original.recordStatuses((1...4).map { (try DeviceID(device), StoreTests.report(id, $0)) })
    }
    try await original.setTag(package: "app", name: "stable", version: "1.0.0", locked: true)
    let target = try await StoreKind.postgres.newLocation()
    let (status, output) = try await Fleet.execute(
      try Fleet.builtBinary("airlift"), ["store", "migrate", "--from", source, "--to", target])
    #expect(status == 0, "\(output)")
    #expect(output.contains("every count and digest matches"))
    #expect(output.contains("status_event"))

    let copy = try ControllerStore(location: target)
    let deployment = try #require(try await copy.deployment(id: id))
    #expect(deployment == (try await original.deployment(id: id)))
    #expect(try await copy.tags(package: "app") == (try await original.tags(package: "app")))
    for device in devices {
      #expect(
        try await copy.statusEvents(deployment: id, device: DeviceID(device))
          == (try await original.statusEvents(deployment: id, device: DeviceID(device))))
    }
    // New rows continue after the copied ones (the identity counters moved on).
    let second = try await StoreTests.seed(copy, devices: ["mg-4"], id: "dep-after-copy")
    #expect(try await copy.deployments().map(\.id) == [second, id])

    // A second run into the same, now full, database changes nothing and says why.
    let (again, refusal) = try await Fleet.execute(
      try Fleet.builtBinary("airlift"), ["store", "migrate", "--from", source, "--to", target])
    #expect(again != 0)
    #expect(refusal.contains("already holds data"))
  }
}

@Suite("SQL text for PostgreSQL and SQLite dates (pure)")
struct SQLTextTests {
  @Test("placeholders are numbered outside quotes and comments; scripts split at top-level semicolons")
  func placeholders() {
    #expect(
      PostgresStatementCache.numberPlaceholders("SELECT '?', \"a?\" FROM t WHERE a = ? AND b = ? -- c?\nAND d = ?")
        == "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b = $2 -- c?\nAND d = $3")
    #expect(
      PostgresStatementCache.statements("CREATE TABLE a (x TEXT DEFAULT ';');\n CREATE INDEX i ON a(x);\n")
        == ["CREATE TABLE a (x TEXT DEFAULT ';')", "CREATE INDEX i ON a(x)"])
  }

  @Test("SQLite date text reads back what it wrote, to the millisecond, before 1970 too")
  func dateText() throws {
    for seconds in [0.0, 1_800_000_000.123, -86_400.5, 951_782_400.999] {
      let text = SQLDateText.format(Date(timeIntervalSince1970: seconds))
      let back = try #require(SQLDateText.parse(text))
      #expect(abs(back.timeIntervalSince1970 - seconds) < 0.0005, "\(text)")
    }
    #expect(SQLDateText.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29 00:00:00.000")
    #expect(SQLDateText.parse("2026-11-30 19:14:00") == Date(timeIntervalSince1970: 1_796_066_040))
  }
}
