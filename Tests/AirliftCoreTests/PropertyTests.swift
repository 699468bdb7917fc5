import AirliftCore
import Foundation
import PropertyBased
import Testing

/// Hostile input for the pure parsers, generated: whatever the bytes, a
/// decoder returns a value or its typed error, never crashes, and positions
/// in errors point inside the text. `AIRLIFT_PROPERTY_COUNT` raises the
/// number of cases (CI runs the default, a bounded few seconds).
@Suite("Decoders and parsers under generated input")
struct PropertyTests {
  static let count = ProcessInfo.processInfo.environment["AIRLIFT_PROPERTY_COUNT"].flatMap(Int.init) ?? 300

  static let digest = String(repeating: "ab", count: 32)

  /// One valid payload per device topic, as the agent or controller sends it.
  static let validPayloads: [(String, [UInt8])] = {
    let device = try! DeviceID("gw-1")
    let notice = DeploymentNotice(
      deployment: "dep-1", release: ReleaseRef(package: "gw-fw", version: "2.1.0"), handler: "script",
      artifacts: [ArtifactRef(name: "b.tar.gz", url: "https://c/artifacts/\(digest)", size: 3, sha256: digest)],
      parameters: ["MODE": "safe"],
      manifest: SignedManifest(
        manifest: ReleaseManifest(
          package: "gw-fw", version: "2.1.0", handler: "script", expires: "2027-01-01T00:00:00Z",
          assets: [.init(name: "b.tar.gz", size: 3, sha256: digest)]),
        signature: .init(key: "0123456789abcdef", value: "AAAA")))
    return [
      ("deployment", Wire.encode(notice)),
      (
        "checkin",
        Wire.encode(
          CheckIn(device: device, attributes: ["model": "gw-200"], installed: ["gw-fw": "2.0.0"], agentVersion: "1"))
      ),
      ("status", Wire.encode(StatusReport(deployment: "dep-1", state: .downloading, bytes: 1, total: 3))),
      ("presence", Wire.encode(Presence(.online))),
      ("command", Wire.encode(DeviceCommand(id: "cmd-1", action: .rollback, package: "gw-fw", reason: nil))),
      ("command-result", Wire.encode(CommandResult(command: "cmd-1", ok: true, message: "done"))),
      (
        "event",
        Wire.encode(DeviceEvent(device: device, kind: "temperature", data: .object(["c": .number(71)])))
      ),
    ]
  }()

  /// Decodes `bytes` as the message of `channel`; true when it decoded.
  static func decode(_ bytes: [UInt8], as channel: String) -> Bool {
    let topic = "airlift/v1/devices/gw-1/\(channel)"
    do {
      switch channel {
      case "deployment": _ = try Wire.decode(DeploymentNotice.self, from: bytes, topic: topic)
      case "checkin": _ = try Wire.decode(CheckIn.self, from: bytes, topic: topic)
      case "status": _ = try Wire.decode(StatusReport.self, from: bytes, topic: topic)
      case "presence": _ = try Wire.decode(Presence.self, from: bytes, topic: topic)
      case "command": _ = try Wire.decode(DeviceCommand.self, from: bytes, topic: topic)
      case "event": _ = try Wire.decode(DeviceEvent.self, from: bytes, topic: topic)
      default: _ = try Wire.decode(CommandResult.self, from: bytes, topic: topic)
      }
      return true
    } catch {
      // Typed: only AirliftCoreError reaches here, and it names the topic.
      #expect(error.description.contains(topic), "\(error)")
      return false
    }
  }

  @Test("random bytes on every topic: a typed error naming the topic, never a crash")
  func randomBytes() async {
    await propertyCheck(
      count: Self.count, input: Gen.uint8().array(of: 0...400), Gen.int(in: 0..<Self.validPayloads.count)
    ) { bytes, index in
      _ = Self.decode(bytes, as: Self.validPayloads[index].0)
    }
  }

  @Test("valid payloads with bytes changed, cut or repeated: decoded or refused, never a crash")
  func mutatedPayloads() async {
    await propertyCheck(
      count: Self.count, input: Gen.int(in: 0..<Self.validPayloads.count),
      Gen.int(in: 0...10_000).array(of: 1...8), Gen.uint8().array(of: 1...8), Gen.int(in: 0...3)
    ) { index, positions, values, kind in
      let (channel, valid) = Self.validPayloads[index]
      #expect(Self.decode(valid, as: channel))
      var bytes = valid
      for (position, value) in zip(positions, values) {
        let at = position % bytes.count
        switch kind {
        case 0: bytes[at] = value
        case 1: bytes = Array(bytes.prefix(at))
        case 2: bytes.insert(value, at: at)
        default: bytes += bytes.prefix(at)
        }
        if bytes.isEmpty { bytes = [value] }
      }
      _ = Self.decode(bytes, as: channel)
    }
  }

  /// JSON objects with the right field names and the wrong kinds of values.
  static let values: [String] = [
    "null", "true", "0", "-1", "1e308", "9999999999999999999999", "\"\"", "\"x\"", "[]", "[1,\"a\"]", "{}",
    "{\"v\":1}", "\"2026-13-45T99:99:99Z\"", "\"\\u0000\"",
  ]
  static let fields = [
    "v", "deployment", "release", "handler", "artifacts", "parameters", "timeouts", "manifest", "downgrade", "round",
    "device", "attributes", "installed", "agentVersion", "follows", "state", "bytes", "total", "seq", "at", "status",
    "id", "action", "package", "ok", "message", "unexpected",
  ]

  @Test("the right field names with wrong types, extra fields and odd values: decoded or refused")
  func wrongTypes() async {
    await propertyCheck(
      count: Self.count, input: Gen.int(in: 0..<Self.fields.count).array(of: 0...12),
      Gen.int(in: 0..<Self.values.count).array(of: 12), Gen.int(in: 0..<Self.validPayloads.count)
    ) { keys, values, index in
      let members = zip(keys, values).map { "\"\(Self.fields[$0])\":\(Self.values[$1])" }
      let json = "{\"v\":1," + members.joined(separator: ",") + "}"
      _ = Self.decode(Array(json.utf8), as: Self.validPayloads[index].0)
    }
  }

  @Test("unknown fields are ignored: a valid payload with extra members still decodes the same")
  func unknownFields() async {
    await propertyCheck(count: Self.count, input: Gen.letter.string(of: 1...12), Gen.int(in: 0..<Self.values.count)) {
      name, value in
      for (channel, valid) in Self.validPayloads {
        var text = String(decoding: valid, as: UTF8.self)
        text.removeFirst()
        let extended = "{\"x-\(name)\":\(Self.values[value])," + text
        #expect(Self.decode(Array(extended.utf8), as: channel), "\(channel): \(extended)")
      }
    }
  }

  /// Pieces policy expressions are made of, so generated text gets past the first character.
  static let tokens = [
    "model", "region", "app(\"gw-fw\")", "installed(\"x\")", "has(tags)", "\"gw-200\"", "2.0.0", "1.10.0-rc.1",
    "42", "-3.5", "==", "!=", "<", "<=", ">", ">=", "in", "contains", "&&", "||", "!", "(", ")", "[", "]", ",",
    "true", "false", " ", "\"", "\\", "=", "&", "|", "é", "\u{0}", "\n",
  ]

  @Test("policy expressions from random tokens: parsed, or refused with a position inside the text")
  func policyExpressions() async {
    let subject = PolicySubject(
      attributes: ["model": "gw-200", "region": "eu", "tags": "lab,eu"], installed: ["gw-fw": "1.4.0"])
    await propertyCheck(count: Self.count * 3, input: Gen.int(in: 0..<Self.tokens.count).array(of: 0...30)) {
      picks in
      let text = picks.map { Self.tokens[$0] }.joined()
      do {
        let expression = try PolicyExpression(text)
        _ = expression.matches(subject)
        #expect(try PolicyExpression(expression.text) == expression)
      } catch let error as PolicyExpressionError {
        #expect((1...(text.count + 1)).contains(error.position), "\(text): \(error)")
      } catch {
        Issue.record("\(text): untyped error \(error)")
      }
    }
  }

  static let windowTokens = ["*", "/", "-", ",", " ", "0", "1", "5", "23", "59", "60", "99", "@always", "mon", "x"]

  @Test("update windows and periods from random text: parsed, or refused with a position inside the text")
  func windowsAndPeriods() async {
    await propertyCheck(count: Self.count, input: Gen.int(in: 0..<Self.windowTokens.count).array(of: 0...16)) {
      picks in
      let text = picks.map { Self.windowTokens[$0] }.joined()
      do {
        _ = try UpdateWindow(text)
      } catch let error as UpdateWindowError {
        #expect((1...(text.count + 1)).contains(error.position), "\(text): \(error)")
      }
    }
    await propertyCheck(
      count: Self.count, input: Gen.letterOrNumber.string(of: 0...10), Gen.int(in: 0...999_999)
    ) { text, number in
      for candidate in [text, "\(number)\(text)", "\(number)s\(text)"] {
        do {
          _ = try Period(candidate)
        } catch let error as PeriodError {
          #expect((1...(candidate.count + 1)).contains(error.position), "\(candidate): \(error)")
        }
      }
    }
  }
}
