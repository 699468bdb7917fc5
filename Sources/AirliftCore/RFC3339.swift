import Foundation

/// RFC 3339 date-times, the only form of time on the wire: checked field by field and read without Foundation's
/// formatters, which refuse some valid ones (an offset such as `+23:18`, years before 1583).
public enum RFC3339 {
  /// True when `text` is a full RFC 3339 date-time with every field in its range (leap seconds and
  /// February 29 of leap years included).
  public static func isValid(_ text: String) -> Bool { date(text) != nil }

  /// The moment `text` names, or nil when it is not a full RFC 3339 date-time. A leap second (`:60`) reads as
  /// the last instant of its minute.
  public static func date(_ text: String) -> Date? {
    let b = Array(text.utf8)
    guard b.count >= 20, b.count <= 64 else { return nil }
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
    else { return nil }
    guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour <= 23, minute <= 59,
      second <= 60
    else { return nil }
    var index = 19
    var fraction = 0.0
    if b[index] == UInt8(ascii: ".") {
      index += 1
      let start = index
      var scale = 0.1
      while index < b.count, (48...57).contains(b[index]) {
        fraction += Double(b[index] - 48) * scale
        scale /= 10
        index += 1
      }
      guard index > start else { return nil }
    }
    guard index < b.count else { return nil }
    var offset = 0
    switch b[index] {
    case UInt8(ascii: "Z"), UInt8(ascii: "z"):
      guard index + 1 == b.count else { return nil }
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
      guard index + 6 == b.count, let offsetHours = number(index + 1, 2), b[index + 3] == UInt8(ascii: ":"),
        let offsetMinutes = number(index + 4, 2), offsetHours <= 23, offsetMinutes <= 59
      else { return nil }
      offset = (offsetHours * 60 + offsetMinutes) * 60 * (b[index] == UInt8(ascii: "-") ? -1 : 1)
    default: return nil
    }
    let seconds =
      daysFromEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + min(second, 59)
      - offset
    return Date(timeIntervalSince1970: Double(seconds) + (second == 60 ? 0.999 : fraction))
  }

  /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
  private static func daysFromEpoch(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  private static func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }
}
