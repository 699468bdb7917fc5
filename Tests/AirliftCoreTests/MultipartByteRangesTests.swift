import AirliftCore
import Testing

@Suite("multipart/byteranges, read as it streams")
struct MultipartByteRangesTests {
  static let body: [UInt8] = Array(
    ("--XYZ\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-3/100\r\n\r\nabcd\r\n"
      + "--XYZ\r\nContent-Type: application/octet-stream\r\ncontent-range: bytes 10-15/100\r\n\r\n\r\n--XY\r\n"
      + "--XYZ--\r\n").utf8)

  /// The parts and their bodies, joined, from `bytes` fed `step` bytes at a time.
  static func read(_ bytes: [UInt8], step: Int) throws -> [String] {
    var parser = try MultipartByteRanges(contentType: "multipart/byteranges; boundary=XYZ")
    var out: [String] = []
    var start = 0
    while start < bytes.count {
      for event in try parser.feed(bytes[start..<min(start + step, bytes.count)]) {
        switch event {
        case .part(let range): out.append("\(range.lowerBound)-\(range.upperBound):")
        case .body(let data): out[out.count - 1] += String(decoding: data, as: UTF8.self)
        case .end: out.append("end")
        }
      }
      start += step
    }
    #expect(parser.isComplete)
    return out
  }

  @Test("parts and bodies come out the same however the bytes arrive; a body may hold the boundary's own bytes")
  func parts() throws {
    let expected = ["0-3:abcd", "10-15:\r\n--XY", "end"]
    for step in [1, 2, 7, 1000] {
      #expect(try Self.read(Self.body, step: step) == expected, "step \(step)")
    }
  }

  @Test("a single range is one part")
  func single() throws {
    var parser = MultipartByteRanges(singleRange: 5...7)
    #expect(try parser.feed(Array("ab".utf8)) == [.part(5...7), .body(Array("ab".utf8))])
    #expect(try parser.feed(Array("c".utf8)) == [.body(Array("c".utf8)), .end])
    #expect(parser.isComplete)
  }

  @Test("what is not a byteranges answer is refused with the reason")
  func refusals() throws {
    #expect(throws: AirliftCoreError.self) { try MultipartByteRanges(contentType: "text/plain") }
    #expect(throws: AirliftCoreError.self) { try MultipartByteRanges(contentType: "multipart/byteranges") }
    var parser = try MultipartByteRanges(contentType: "multipart/byteranges; boundary=\"XYZ\"")
    #expect(throws: AirliftCoreError.self) {
      _ = try parser.feed(Array("--XYZ\r\nContent-Type: x\r\n\r\nabcd".utf8))
    }
    var endless = try MultipartByteRanges(contentType: "multipart/byteranges; boundary=XYZ")
    #expect(throws: AirliftCoreError.self) { _ = try endless.feed([UInt8](repeating: 65, count: 9000)) }
    #expect(MultipartByteRanges.parse(contentRange: "bytes 7-3/10") == nil)
    #expect(MultipartByteRanges.parse(contentRange: "bytes 3-7/*") == 3...7)
  }
}
