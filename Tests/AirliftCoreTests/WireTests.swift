import AirliftCore
import Foundation
import Testing

@Suite("Wire messages")
struct WireTests {
  let topic = "airlift/v1/devices/device-001/status"

  @Test(
    "RFC 3339 times with fractions and offsets are read; rolled-over or malformed ones are refused",
    arguments: [
      ("2027-01-01T12:00:00Z", true), ("2027-01-01t12:00:00.250+02:00", true), ("2024-02-29T23:59:60Z", true),
      ("0316-06-02T09:13:14.5Z", true), ("2024-01-01T12:99:00Z", false), ("2023-02-29T00:00:00Z", false),
      ("2024-13-01T00:00:00Z", false), ("2024-01-01T24:00:00Z", false), ("2024-01-01T00:00:00", false),
      ("2024-01-01T00:00:00.Z", false), ("2024-01-01T00:00:00+24:00", false), ("2024-01-01 00:00:00Z", false),
      ("", false), ("2024-01-01T00:00:00Z ", false),
    ])
  func times(text: String, valid: Bool) throws {
    #expect(RFC3339.isValid(text) == valid)
    let payload = Array(#"{"v": 1, "command": "cmd-1", "ok": true, "message": "", "time": "\#(text)"}"#.utf8)
    if valid {
      #expect(try Wire.decode(CommandResult.self, from: payload, topic: topic).command == "cmd-1")
    } else {
      #expect(throws: AirliftCoreError.self) { try Wire.decode(CommandResult.self, from: payload, topic: topic) }
    }
  }

  @Test("a time reads as the moment it names: fractions, offsets of any size, leap seconds, old years")
  func moments() throws {
    let utc = try #require(RFC3339.date("2026-12-07T10:00:00Z"))
    #expect(utc == Date(timeIntervalSince1970: 1_796_637_600))
    #expect(RFC3339.date("2026-12-07T12:30:00.25+02:30") == utc.addingTimeInterval(0.25))
    #expect(RFC3339.date("2026-12-06T10:42:00-23:18") == utc)
    #expect(RFC3339.date("2026-12-08T09:18:00+23:18") == utc)
    #expect(RFC3339.date("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
    #expect(RFC3339.date("2016-12-31T23:59:60Z") == Date(timeIntervalSince1970: 1_483_228_799.999))
    #expect(RFC3339.date("0001-01-01T00:00:00Z") == Date(timeIntervalSince1970: -62_135_596_800))
    for text in ["2025-03-01T00:00:00.123Z", "1999-12-31T23:59:59-05:00", "2040-02-29T12:00:00+09:00"] {
      let foundation = try Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains(".")))
      #expect(abs(try #require(RFC3339.date(text)).timeIntervalSince(foundation)) < 0.001, "\(text)")
    }
  }

  @Test("every message survives an encode/decode round trip")
  func roundTrips() throws {
    let notice = DeploymentNotice(
      deployment: "dep-1", release: .init(package: "hello", version: "1.2.3-rc.1"), handler: "script",
      artifacts: [
        .init(name: "b.tar.gz", url: "https://h/artifacts/ab", size: 42, sha256: String(repeating: "a", count: 64))
      ],
      parameters: ["GREETING": "hi"], timeouts: .init(download: 30, install: 60))
    #expect(try Wire.decode(DeploymentNotice.self, from: Wire.encode(notice), topic: topic) == notice)

    let checkIn = CheckIn(
      device: try DeviceID("device-001"), attributes: ["model": "gw"], installed: ["hello": "1.0.0"],
      agentVersion: "0.1.0")
    #expect(try Wire.decode(CheckIn.self, from: Wire.encode(checkIn), topic: topic) == checkIn)

    let report = StatusReport(
      deployment: "dep-1", state: .downloading, bytes: 10, total: 20, percent: 50, attempt: 1,
      time: Date(timeIntervalSince1970: 1_800_000_000))
    #expect(try Wire.decode(StatusReport.self, from: Wire.encode(report), topic: topic) == report)

    let presence = Presence(.offline)
    #expect(try Wire.decode(Presence.self, from: Wire.encode(presence), topic: topic) == presence)
  }

  @Test("every payload carries v=1")
  func carriesVersion() throws {
    let object = try JSONSerialization.jsonObject(with: Data(Wire.encode(Presence(.online)))) as? [String: Any]
    #expect(object?["v"] as? Int == 1)
  }

  @Test("unknown fields are ignored")
  func ignoresUnknownFields() throws {
    let text = #"{"v":1,"status":"online","future":{"x":1}}"#
    #expect(try Wire.decode(Presence.self, from: Array(text.utf8), topic: topic) == Presence(.online))
  }

  @Test(
    "malformed payloads are typed errors naming the topic",
    arguments: [
      ("", "empty payload"),
      ("not json", "not JSON"),
      ("[1]", "not a JSON object"),
      (#"{"status":"online"}"#, "missing integer field 'v'"),
      (#"{"v":"1","status":"online"}"#, "missing integer field 'v'"),
      (#"{"v":1}"#, "missing field 'status'"),
      (#"{"v":1,"status":"sideways"}"#, "invalid value at 'status'"),
      (#"{"v":1,"status":7}"#, "wrong type at 'status'"),
    ])
  func malformed(payload: String, reason: String) {
    do {
      _ = try Wire.decode(Presence.self, from: Array(payload.utf8), topic: topic)
      Issue.record("accepted \(payload)")
    } catch {
      guard case .malformedPayload(let where_, let why) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(where_ == topic)
      #expect(why.contains(reason), "\(why)")
    }
  }

  @Test("a future payload version is refused as such")
  func futureVersion() {
    #expect(throws: AirliftCoreError.unsupportedPayloadVersion(topic: topic, version: 2)) {
      try Wire.decode(Presence.self, from: Array(#"{"v":2,"status":"online"}"#.utf8), topic: topic)
    }
  }

  @Test("a check-in with an invalid device id is refused with the id's rule")
  func invalidDeviceInPayload() {
    let text = #"{"v":1,"device":"../x","attributes":{},"installed":{},"agentVersion":"1"}"#
    do {
      _ = try Wire.decode(CheckIn.self, from: Array(text.utf8), topic: topic)
      Issue.record("accepted an invalid device id")
    } catch {
      #expect(error.description.contains("invalid device id '../x'"))
    }
  }
}

@Suite("Topics and names")
struct TopicTests {
  @Test("device topics are built and parsed back")
  func deviceTopics() throws {
    let id = try DeviceID("gw-42.eu_1")
    for channel in Topics.Channel.allCases {
      let topic = Topics.device(id, channel)
      #expect(topic == "airlift/v1/devices/gw-42.eu_1/\(channel.rawValue)")
      let (parsedID, parsedChannel) = try Topics.parseDeviceTopic(topic)
      #expect(parsedID == id)
      #expect(parsedChannel == channel)
    }
    #expect(Topics.sharedAllDevices(.status, group: "g1") == "$share/g1/airlift/v1/devices/+/status")
  }

  @Test(
    "foreign topics are rejected",
    arguments: [
      "airlift/v1/devices/a/unknown", "airlift/v2/devices/a/status", "airlift/v1/devices/a/b/status",
      "airlift/v1/devices//status", "other/v1/devices/a/status", "airlift/v1/devices/airlift-x/status",
    ])
  func foreignTopics(topic: String) {
    #expect(throws: AirliftCoreError.unknownTopic(topic)) { try Topics.parseDeviceTopic(topic) }
  }

  @Test(
    "device ids that could escape a topic or path are refused",
    arguments: ["", "-a", "a/b", "a+b", "a#", "..", "airlift-controller", "é", String(repeating: "a", count: 65)])
  func invalidDeviceIDs(id: String) {
    #expect(throws: AirliftCoreError.invalidDeviceID(id)) { try DeviceID(id) }
  }

  @Test("parameter names must be environment-safe")
  func parameterNames() throws {
    try Names.validateParameter("GREETING_2")
    try Names.validateParameter("_x")
    for bad in ["", "2X", "A-B", "A B", "A=B"] {
      #expect(throws: AirliftCoreError.invalidParameterName(bad)) { try Names.validateParameter(bad) }
    }
  }
}
