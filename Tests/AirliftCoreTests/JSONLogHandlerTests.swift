import ArgumentParser
import Foundation
import Logging
import Synchronization
import Testing

@testable import AirliftLogging

@Suite("JSON log lines")
struct JSONLogHandlerTests {
  /// Collects what a handler writes.
  final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
  }

  func logger(_ lines: Lines, level: Logger.Level = .info) -> Logger {
    var logger = Logger(label: "airlift.test") { label in
      JSONLogHandler(label: label) { lines.append($0) }
    }
    logger.logLevel = level
    return logger
  }

  func object(_ line: String) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(line.utf8))
    return try #require(value as? [String: Any], "not a JSON object: \(line)")
  }

  @Test("each event is one line of JSON with time, level, logger, message and the metadata as fields")
  func fields() throws {
    let lines = Lines()
    var log = logger(lines)
    log[metadataKey: "device"] = "gw-01"
    log.warning("deployment d-7 ended Failed", metadata: ["deployment": "d-7", "attempt": "3"])
    let line = try #require(lines.all.first)
    #expect(lines.all.count == 1)
    #expect(line.hasSuffix("}\n") && line.dropLast().contains("\n") == false)
    let fields = try object(line)
    #expect(fields["level"] as? String == "warning")
    #expect(fields["logger"] as? String == "airlift.test")
    #expect(fields["message"] as? String == "deployment d-7 ended Failed")
    #expect(fields["device"] as? String == "gw-01")
    #expect(fields["deployment"] as? String == "d-7")
    #expect(fields["attempt"] as? String == "3")
    #expect((fields["source"] as? String)?.hasPrefix("JSONLogHandlerTests.swift:") == true)
    let time = try #require(fields["time"] as? String)
    #expect(time.hasSuffix("Z"))
    #expect(try Date(time, strategy: JSONLogHandler.timeFormat) <= Date())
  }

  @Test("quotes, newlines and control characters from devices stay inside one line")
  func escaping() throws {
    let lines = Lines()
    let hostile = "line one\nline \"two\"\t\\ \u{1}\u{2028}<script>"
    logger(lines).error("\(hostile)", metadata: ["error": .string(hostile)])
    let line = try #require(lines.all.first)
    #expect(line.filter { $0 == "\n" }.count == 1)
    let fields = try object(line)
    #expect(fields["message"] as? String == hostile)
    #expect(fields["error"] as? String == hostile)
  }

  @Test("nested metadata stays nested; a key named like a fixed field does not replace it")
  func nestedAndReserved() throws {
    let lines = Lines()
    logger(lines).info(
      "x", metadata: ["message": "spoofed", "counts": ["ok": "2", "failed": "1"], "ids": ["a", "b"]])
    let fields = try object(try #require(lines.all.first))
    #expect(fields["message"] as? String == "x")
    #expect(fields["meta.message"] as? String == "spoofed")
    #expect((fields["counts"] as? [String: String]) == ["failed": "1", "ok": "2"])
    #expect((fields["ids"] as? [String]) == ["a", "b"])
  }

  @Test("events below the level are not written")
  func level() {
    let lines = Lines()
    let log = logger(lines, level: .warning)
    log.info("quiet")
    log.debug("quieter")
    log.error("loud")
    #expect(lines.all.count == 1)
    #expect(lines.all.first?.contains("loud") == true)
  }

  @Test("--log-format and --log-level parse, and bad values are refused")
  func options() throws {
    let options = try LoggingOptions.parse(["--log-format", "json", "--log-level", "debug"])
    #expect(options.logFormat == .json)
    #expect(options.logLevel == .debug)
    #expect(try LoggingOptions.parse([]).logFormat == .text)
    #expect(throws: (any Error).self) { try LoggingOptions.parse(["--log-format", "xml"]) }
    #expect(throws: (any Error).self) { try LoggingOptions.parse(["--log-level", "loud"]) }
  }
}
