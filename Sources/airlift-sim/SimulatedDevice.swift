import AirliftCore
import AirliftMQTT
import Foundation
import Logging

/// One simulated device: a real MQTT client with its own certificate,
/// through the real broker and its ACL. It checks in, follows its retained
/// `deployment` topic and reports the same status events an agent sends;
/// the install is a pause that fails at the configured rate.
actor SimulatedDevice {
  let id: DeviceID
  private let client: MQTTClient
  private let attributes: [String: String]
  private let installTime: Duration
  private let failRate: Double
  private let download: DownloadMode
  private let slots: DownloadSlots
  private let certs: String
  private var installed: [String: String] = [:]
  private var done: Set<String> = []
  private(set) var state: DeviceState?
  private var connectTimes: [Double] = []
  private var noticeTimes: [Double] = []
  private var reportsSent = 0
  /// Each report's sequence number, as a real agent numbers them (the controller stores each number once);
  /// counted from the start time in milliseconds, so a restarted simulator does not reuse numbers.
  private var nextSeq = Int64(Date().timeIntervalSince1970 * 1000)

  init(
    id: DeviceID, broker: String, certs: String, attributes: [String: String], installTime: Duration,
    failRate: Double, download: DownloadMode, slots: DownloadSlots, logger: Logger
  ) throws {
    self.id = id
    self.slots = slots
    self.download = download
    self.certs = certs
    self.attributes = attributes
    self.installTime = installTime
    self.failRate = failRate
    client = try MQTTClient(
      options: MQTTClientOptions(
        brokerURL: broker, clientID: id.rawValue,
        tls: .init(
          caFile: "\(certs)/ca.crt", certificateFile: "\(certs)/devices/\(id).crt",
          keyFile: "\(certs)/devices/\(id).key"),
        will: .init(topic: Topics.device(id, .presence), payload: Wire.encode(Presence(.offline))),
        cleanStart: false, connectTimeout: 30, minRetryInterval: MQTTClientOptions.spreadRetryStart()),
      logger: logger)
  }

  /// What it has done so far, for the live summary and `--stats`.
  var snapshot: DeviceSnapshot {
    get async {
      DeviceSnapshot(
        connected: await client.isConnected, connectTimes: connectTimes,
        noticeTimes: noticeTimes, state: state, reportsSent: reportsSent)
    }
  }

  /// Connects, says it is online, checks in, and handles notices until
  /// cancelled. After the broker comes back it says it is online again,
  /// as an agent does.
  func run() async throws {
    let notices = try await client.subscribe(Topics.device(id, .deployment), qos: 1)
    try await client.connect()
    connected()
    try await client.publish(
      Topics.device(id, .presence), payload: Wire.encode(Presence(.online)), qos: 1, retain: true)
    try await checkIn()
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for await event in self.client.events {
          guard case .connected(reconnect: true) = event else { continue }
          await self.connected()
          try await self.client.publish(
            Topics.device(self.id, .presence), payload: Wire.encode(Presence(.online)), qos: 1, retain: true)
        }
      }
      group.addTask {
        for await message in notices where !message.payload.isEmpty {
          await self.received(message)
        }
      }
      try await group.next()
      group.cancelAll()
    }
  }

  private func connected() {
    connectTimes.append(Date().timeIntervalSince1970)
  }

  private func received(_ message: MQTTMessage) async {
    noticeTimes.append(Date().timeIntervalSince1970)
    guard let notice = try? Wire.decode(DeploymentNotice.self, from: message.payload, topic: message.topic),
      !done.contains(notice.deployment)
    else { return }
    done.insert(notice.deployment)
    do { try await update(notice) } catch {}
  }

  func close() async { await client.close() }

  private func update(_ notice: DeploymentNotice) async throws {
    let total = notice.artifacts.totalSize
    if installed[notice.release.package] == notice.release.version {
      return try await report(notice, .successful, stage: "already-installed", percent: 100)
    }
    try await report(notice, .downloading, bytes: 0, total: total, percent: 0)
    // As an agent does: a failed download is tried again (Retrying) after a pause, three tries in all.
    for attempt in 1...3 {
      do {
        for artifact in notice.artifacts {
          try await slots.withSlot { [download, certs, id] in
            try await SimulatedDownload.fetch(artifact, mode: download, certs: certs, device: id)
          }
        }
        break
      } catch {
        guard attempt < 3 else { return try await report(notice, .failed, error: "download: \(error)") }
        try await report(notice, .retrying, error: "download: \(error)")
        try await Task.sleep(for: .seconds(attempt * 2) + .milliseconds(Int.random(in: 0..<1000)))
        try await report(notice, .downloading, bytes: 0, total: total, percent: 0)
      }
    }
    try await report(notice, .downloaded, bytes: total, total: total, percent: 100)
    try await report(notice, .installing)
    try await Task.sleep(for: installTime)
    if Double.random(in: 0..<1) < failRate {
      try await report(notice, .failed, error: "simulated install failure")
      return
    }
    try await report(notice, .successful, percent: 100)
    installed[notice.release.package] = notice.release.version
    try await checkIn()
  }

  private func report(
    _ notice: DeploymentNotice, _ state: DeviceState, stage: String? = nil, bytes: Int64? = nil, total: Int64? = nil,
    percent: Int? = nil, error: String? = nil
  ) async throws {
    self.state = state
    let report = StatusReport(
      deployment: notice.deployment, state: state, stage: stage, bytes: bytes, total: total, percent: percent,
      attempt: 1, error: error, seq: nextSeq)
    nextSeq += 1
    try await client.publish(Topics.device(id, .status), payload: Wire.encode(report), qos: 1)
    reportsSent += 1
  }

  private func checkIn() async throws {
    let checkIn = CheckIn(device: id, attributes: attributes, installed: installed, agentVersion: "sim-0.1.0")
    try await client.publish(Topics.device(id, .checkin), payload: Wire.encode(checkIn), qos: 1)
  }
}
