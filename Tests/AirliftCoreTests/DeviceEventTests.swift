import AirliftCore
import Foundation
import Testing

@Suite("Telemetry events: JSON data kept as sent, kinds and sizes checked")
struct DeviceEventTests {
  @Test("any JSON value parses and comes back as compact text with sorted keys")
  func jsonRoundTrip() throws {
    let value = try JSONValue.parse(#"{"b": [1, 2.5, true, null, "x"], "a": {"c": -3}}"#)
    #expect(
      value
        == .object([
          "a": .object(["c": .number(-3)]),
          "b": .array([.number(1), .number(2.5), .bool(true), .null, .string("x")]),
        ]))
    #expect(value.text == #"{"a":{"c":-3},"b":[1,2.5,true,null,"x"]}"#)
    #expect(value.depth == 2)
    #expect(try JSONValue.parse("false") == .bool(false))
    #expect(try JSONValue.parse("0") == .number(0))
    #expect(try JSONValue.parse(#""hi""#) == .string("hi"))
    #expect(throws: AirliftCoreError.self) { try JSONValue.parse("{c: 71") }
    #expect(throws: AirliftCoreError.self) { try JSONValue.parse("") }
  }

  @Test("kinds are named like property keys; data stays within 8 KiB and 16 levels")
  func limits() throws {
    let device = try DeviceID("gw-1")
    try DeviceEvent(device: device, kind: "disk.full", data: .null).validate()
    for kind in ["", "temp erature", "-x", String(repeating: "k", count: 65), "température"] {
      #expect(throws: AirliftCoreError.self, "\(kind)") {
        try DeviceEvent(device: device, kind: kind, data: .null).validate()
      }
    }
    let big = JSONValue.string(String(repeating: "x", count: DeviceEvent.maxDataBytes))
    #expect(throws: AirliftCoreError.self) { try DeviceEvent(device: device, kind: "k", data: big).validate() }
    var deep = JSONValue.null
    for _ in 0..<17 { deep = .array([deep]) }
    #expect(throws: AirliftCoreError.self) { try DeviceEvent(device: device, kind: "k", data: deep).validate() }
    let fits = JSONValue.string(String(repeating: "x", count: DeviceEvent.maxDataBytes - 2))
    try DeviceEvent(device: device, kind: "k", data: fits).validate()
  }

  @Test("an event goes over the wire and back unchanged, its time included")
  func wire() throws {
    let event = DeviceEvent(
      device: try DeviceID("gw-1"), kind: "temperature", time: Date(timeIntervalSince1970: 1_800_000_000),
      data: .object(["c": .number(71.5)]))
    let decoded = try Wire.decode(DeviceEvent.self, from: Wire.encode(event), topic: "t")
    #expect(decoded == event)
    #expect(InternetTime.parse("2026-12-07T10:00:00Z") != nil)
    #expect(InternetTime.parse("2026-12-07T10:00:00.250+01:00") != nil)
    #expect(InternetTime.parse("yesterday") == nil)
  }
}
