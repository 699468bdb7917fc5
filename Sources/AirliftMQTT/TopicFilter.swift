/// MQTT topic filters, matched the way the broker does.
public enum TopicFilter {
  /// MQTT topic-filter matching (`+` one level, `#` the rest); a shared
  /// subscription's `$share/{group}/` prefix is ignored.
  public static func matches(_ filter: String, topic: String) -> Bool {
    // Level by level over the UTF-8 bytes, without building arrays: the
    // controller matches every message it receives against its filters.
    var filterRest: Substring.UTF8View? = filter.utf8[...]
    var topicRest: Substring.UTF8View? = topic.utf8[...]
    if let rest = filterRest, rest.starts(with: "$share/".utf8),
      rest.dropFirst(7).contains(UInt8(ascii: "/"))
    {
      _ = nextLevel(&filterRest)
      _ = nextLevel(&filterRest)
    }
    if topic.utf8.first == UInt8(ascii: "$"), let rest = filterRest {
      let first = rest.prefix { $0 != UInt8(ascii: "/") }
      if first.elementsEqual("#".utf8) || first.elementsEqual("+".utf8) { return false }
    }
    while let level = nextLevel(&filterRest) {
      if level.elementsEqual("#".utf8) { return true }
      guard let topicLevel = nextLevel(&topicRest) else { return false }
      if !level.elementsEqual("+".utf8) && !level.elementsEqual(topicLevel) { return false }
    }
    return topicRest == nil
  }

  /// The next `/`-separated level of `rest`, which becomes what follows it
  /// (nil once the last level was taken).
  private static func nextLevel(_ rest: inout Substring.UTF8View?) -> Substring.UTF8View? {
    guard let text = rest else { return nil }
    guard let slash = text.firstIndex(of: UInt8(ascii: "/")) else {
      rest = nil
      return text
    }
    rest = text[text.index(after: slash)...]
    return text[..<slash]
  }
}
