/// Reads a `multipart/byteranges` response (RFC 9110 §14.6) as it streams:
/// each part's `Content-Range` header, then exactly that many bytes of
/// body, so the body is never searched for the boundary and never held whole.
/// A single-range answer (`206` with `Content-Range`, no multipart) is one
/// part the caller starts itself with ``expect(range:)``.
public struct MultipartByteRanges: Sendable {
  /// What the bytes fed so far contained, in order.
  public enum Event: Sendable, Equatable {
    /// A part begins: its first and last byte (inclusive) in the whole file.
    case part(ClosedRange<Int64>)
    /// Bytes of the current part's body.
    case body([UInt8])
    /// The closing boundary: nothing more follows.
    case end
  }

  private enum State: Sendable {
    case headers
    case body(remaining: Int64)
    case done
  }

  private let boundary: [UInt8]
  private var state = State.headers
  private var pending: [UInt8] = []
  /// Header bytes above this without the blank line that ends them: not a byteranges response.
  private static let maxHeaders = 8 << 10

  /// `contentType` is the response's `Content-Type` (`multipart/byteranges; boundary=...`).
  public init(contentType: String) throws(AirliftCoreError) {
    guard contentType.lowercased().hasPrefix("multipart/byteranges"),
      let parameter = contentType.split(separator: ";").map({ $0.trimmingSpaces }).first(where: {
        $0.lowercased().hasPrefix("boundary=")
      })
    else { throw .malformedPayload(topic: "Content-Type", reason: "'\(contentType)' is not multipart/byteranges") }
    var value = String(parameter.dropFirst("boundary=".count))
    if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
    guard !value.isEmpty, value.utf8.count <= 70 else {
      throw .malformedPayload(topic: "Content-Type", reason: "the multipart boundary is empty or too long")
    }
    boundary = Array("--\(value)".utf8)
  }

  /// A parser for a single-range (non-multipart) `206`: its body is one part, `range`.
  public init(singleRange range: ClosedRange<Int64>) {
    boundary = []
    state = .body(remaining: Int64(range.count))
    announced = range
  }

  /// The single range's part, reported with the first bytes.
  private var announced: ClosedRange<Int64>?

  /// Takes the next bytes of the response body and returns what they completed.
  public mutating func feed(_ bytes: some Collection<UInt8>) throws(AirliftCoreError) -> [Event] {
    pending.append(contentsOf: bytes)
    var events: [Event] = []
    if let range = announced {
      events.append(.part(range))
      announced = nil
    }
    var position = 0
    loop: while position < pending.count {
      switch state {
      case .done:
        // Epilogue: ignored, as RFC 2046 says.
        position = pending.count
      case .body(let remaining):
        let take = Int(min(remaining, Int64(pending.count - position)))
        events.append(.body(Array(pending[position..<(position + take)])))
        position += take
        let left = remaining - Int64(take)
        state = left == 0 ? (boundary.isEmpty ? .done : .headers) : .body(remaining: left)
        if left == 0 && boundary.isEmpty { events.append(.end) }
      case .headers:
        guard let blank = Self.find([13, 10, 13, 10], in: pending, from: position) else {
          // A closing boundary has no headers after it.
          if let close = Self.find(boundary + [45, 45], in: pending, from: position) {
            state = .done
            events.append(.end)
            position = close + boundary.count + 2
            continue loop
          }
          guard pending.count - position <= Self.maxHeaders else {
            throw .malformedPayload(topic: "multipart/byteranges", reason: "a part's headers never end")
          }
          break loop
        }
        let block = String(decoding: pending[position..<blank], as: UTF8.self)
        if let close = Self.find(boundary + [45, 45], in: pending, from: position), close < blank {
          state = .done
          events.append(.end)
          position = pending.count
          continue loop
        }
        guard Self.find(boundary, in: pending, from: position).map({ $0 < blank }) == true else {
          throw .malformedPayload(topic: "multipart/byteranges", reason: "a part does not start with the boundary")
        }
        let range = try Self.contentRange(in: block)
        events.append(.part(range))
        state = .body(remaining: Int64(range.count))
        position = blank + 4
      }
    }
    pending.removeFirst(position)
    return events
  }

  /// Whether the closing boundary (or the single range's last byte) has been read.
  public var isComplete: Bool {
    if case .done = state { return true }
    return false
  }

  /// `Content-Range: bytes first-last/total` in a block of header lines.
  static func contentRange(in block: String) throws(AirliftCoreError) -> ClosedRange<Int64> {
    for line in block.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }) {
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2, parts[0].trimmingSpaces.lowercased() == "content-range" else { continue }
      if let range = parse(contentRange: String(parts[1].trimmingSpaces)) { return range }
      throw .malformedPayload(topic: "multipart/byteranges", reason: "Content-Range '\(parts[1])' cannot be read")
    }
    throw .malformedPayload(topic: "multipart/byteranges", reason: "a part has no Content-Range")
  }

  /// `bytes first-last/total` (total may be `*`).
  public static func parse(contentRange value: String) -> ClosedRange<Int64>? {
    guard value.lowercased().hasPrefix("bytes ") else { return nil }
    let spec = value.dropFirst(6).split(separator: "/", maxSplits: 1)
    let bounds = spec.first?.split(separator: "-", maxSplits: 1) ?? []
    guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first >= 0, first <= last
    else { return nil }
    return first...last
  }

  private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
    guard !needle.isEmpty, haystack.count - start >= needle.count else { return nil }
    var index = start
    while index <= haystack.count - needle.count {
      if haystack[index] == needle[0] && haystack[index..<(index + needle.count)].elementsEqual(needle) {
        return index
      }
      index += 1
    }
    return nil
  }
}

extension Substring {
  fileprivate var trimmingSpaces: Substring {
    var text = self
    while text.first == " " || text.first == "\t" { text = text.dropFirst() }
    while text.last == " " || text.last == "\t" { text = text.dropLast() }
    return text
  }
}
