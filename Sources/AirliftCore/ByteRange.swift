/// The byte ranges of an HTTP `Range: bytes=...` header, resolved against
/// the size of the file it asks for.
public enum ByteRange {
  /// Ranges one request may ask for: a delta asks for up to `DeltaPlan.rangesPerRequest`.
  public static let maxRanges = 1000

  /// Every range of the header, in order: nil for another unit than bytes (send the whole file); throws (416)
  /// when one is malformed or beyond the end, when there are more than `maxRanges`, or when they overlap or go
  /// backwards. Overlapping ranges are how a small request makes a server send a file many times over
  /// (CVE-2011-3192); a client that means well never needs them.
  public static func ranges(_ header: String, size: Int64) throws(AirliftCoreError) -> [ClosedRange<Int64>]? {
    let trimmed = header.trimmingSpaces()
    guard trimmed.lowercased().hasPrefix("bytes=") else { return nil }
    let specs = trimmed.dropFirst("bytes=".count).split(separator: ",", omittingEmptySubsequences: false)
    guard specs.count <= maxRanges else { throw .invalidRange(String(header.prefix(64)) + "…") }
    var ranges: [ClosedRange<Int64>] = []
    for spec in specs {
      // `parse` reads one range; its checks hold for each.
      guard let range = try parse("bytes=" + spec.trimmingCharacters(in: " "), size: size) else {
        throw .invalidRange(header)
      }
      if let last = ranges.last, range.lowerBound <= last.upperBound { throw .invalidRange(header) }
      ranges.append(range)
    }
    return ranges
  }

  /// Returns the inclusive range of bytes to send; nil for a range in another
  /// unit than bytes, which a server must ignore (RFC 9110 §14.2: send the
  /// whole file); throws when a bytes range is malformed, asks for several
  /// ranges, or lies beyond the end (416).
  public static func parse(_ header: String, size: Int64) throws(AirliftCoreError) -> ClosedRange<Int64>? {
    let trimmed = header.trimmingSpaces()
    guard trimmed.lowercased().hasPrefix("bytes=") else { return nil }
    guard size > 0 else { throw .invalidRange(header) }
    let spec = trimmed.dropFirst("bytes=".count)
    guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { throw .invalidRange(header) }
    let startText = spec[..<dash]
    let endText = spec[spec.index(after: dash)...]
    if startText.isEmpty {
      guard let suffix = Int64(endText), suffix > 0 else { throw .invalidRange(header) }
      return max(0, size - suffix)...(size - 1)
    }
    guard let start = Int64(startText), start >= 0, start < size else { throw .invalidRange(header) }
    if endText.isEmpty { return start...(size - 1) }
    guard let end = Int64(endText), end >= start else { throw .invalidRange(header) }
    return start...min(end, size - 1)
  }
}

extension Substring {
  fileprivate func trimmingCharacters(in character: Character) -> String {
    var s = self
    while s.first == character { s.removeFirst() }
    while s.last == character { s.removeLast() }
    return String(s)
  }
}

extension String {
  fileprivate func trimmingSpaces() -> Substring {
    var s = Substring(self)
    while s.first == " " { s.removeFirst() }
    while s.last == " " { s.removeLast() }
    return s
  }
}
