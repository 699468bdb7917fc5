/// The single byte range of an HTTP `Range: bytes=...` header, resolved
/// against the size of the file it asks for.
public enum ByteRange {
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

extension String {
  fileprivate func trimmingSpaces() -> Substring {
    var s = Substring(self)
    while s.first == " " { s.removeFirst() }
    while s.last == " " { s.removeLast() }
    return s
  }
}
