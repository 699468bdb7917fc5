/// The shape of an RFC 3339 time (`2027-01-01T12:00:00Z`, `…T12:00:00.250+02:00`), checked before a time is
/// parsed: Foundation's ISO 8601 parser rolls `12:99:00` over into the next hour instead of refusing it.
public enum RFC3339 {
  /// True when `text` is a full RFC 3339 date-time with every field in its range (leap seconds and
  /// February 29 of leap years included).
  public static func isValid(_ text: String) -> Bool {
    let b = Array(text.utf8)
    guard b.count >= 20, b.count <= 64 else { return false }
    func number(_ at: Int, _ count: Int) -> Int? {
      guard at + count <= b.count else { return nil }
      var value = 0
      for byte in b[at..<(at + count)] {
        guard (48...57).contains(byte) else { return nil }
        value = value * 10 + Int(byte - 48)
      }
      return value
    }
    guard let year = number(0, 4), b[4] == UInt8(ascii: "-"), let month = number(5, 2), b[7] == UInt8(ascii: "-"),
      let day = number(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"), let hour = number(11, 2),
      b[13] == UInt8(ascii: ":"), let minute = number(14, 2), b[16] == UInt8(ascii: ":"), let second = number(17, 2)
    else { return false }
    guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour <= 23, minute <= 59,
      second <= 60
    else { return false }
    var index = 19
    if b[index] == UInt8(ascii: ".") {
      index += 1
      let start = index
      while index < b.count, (48...57).contains(b[index]) { index += 1 }
      guard index > start else { return false }
    }
    guard index < b.count else { return false }
    switch b[index] {
    case UInt8(ascii: "Z"), UInt8(ascii: "z"): return index + 1 == b.count
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
      guard index + 6 == b.count, let offsetHours = number(index + 1, 2), b[index + 3] == UInt8(ascii: ":"),
        let offsetMinutes = number(index + 4, 2)
      else { return false }
      return offsetHours <= 23 && offsetMinutes <= 59
    default: return false
    }
  }

  private static func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }
}
