import Foundation

/// One value crossing the store seam, in either database: what a statement
/// binds and what a row holds. Dates stay dates so each database keeps them
/// in its own type (SQLite text, PostgreSQL `timestamptz`).
public enum SQLValue: Sendable, Hashable {
  case null
  case integer(Int64)
  case real(Double)
  case text(String)
  case blob(Data)
  case date(Date)
}

/// A Swift value the store binds and reads back.
public protocol SQLValueConvertible: Sendable {
  var sqlValue: SQLValue { get }
  /// Nil when the stored value cannot be this type (NULL included).
  static func fromSQL(_ value: SQLValue) -> Self?
}

extension String: SQLValueConvertible {
  public var sqlValue: SQLValue { .text(self) }
  public static func fromSQL(_ value: SQLValue) -> String? {
    switch value {
    case .text(let text): return text
    case .integer(let number): return String(number)
    case .real(let number): return String(number)
    case .blob(let data): return String(decoding: data, as: UTF8.self)
    case .date(let date): return SQLDateText.format(date)
    case .null: return nil
    }
  }
}

extension Int64: SQLValueConvertible {
  public var sqlValue: SQLValue { .integer(self) }
  public static func fromSQL(_ value: SQLValue) -> Int64? {
    switch value {
    case .integer(let number): return number
    case .real(let number): return Int64(exactly: number.rounded(.towardZero))
    case .text(let text): return Int64(text)
    default: return nil
    }
  }
}

extension Int: SQLValueConvertible {
  public var sqlValue: SQLValue { .integer(Int64(self)) }
  public static func fromSQL(_ value: SQLValue) -> Int? { Int64.fromSQL(value).map { Int($0) } }
}

extension Double: SQLValueConvertible {
  public var sqlValue: SQLValue { .real(self) }
  public static func fromSQL(_ value: SQLValue) -> Double? {
    switch value {
    case .real(let number): return number
    case .integer(let number): return Double(number)
    case .text(let text): return Double(text)
    default: return nil
    }
  }
}

/// Booleans are stored as 0 and 1 in both databases (SQLite has no other kind).
extension Bool: SQLValueConvertible {
  public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
  public static func fromSQL(_ value: SQLValue) -> Bool? { Int64.fromSQL(value).map { $0 != 0 } }
}

extension Data: SQLValueConvertible {
  public var sqlValue: SQLValue { .blob(self) }
  public static func fromSQL(_ value: SQLValue) -> Data? {
    switch value {
    case .blob(let data): return data
    case .text(let text): return Data(text.utf8)
    default: return nil
    }
  }
}

extension Date: SQLValueConvertible {
  public var sqlValue: SQLValue { .date(self) }
  public static func fromSQL(_ value: SQLValue) -> Date? {
    switch value {
    case .date(let date): return date
    case .text(let text): return SQLDateText.parse(text)
    case .integer(let seconds): return Date(timeIntervalSince1970: Double(seconds))
    case .real(let seconds): return Date(timeIntervalSince1970: seconds)
    default: return nil
    }
  }
}

/// The statement's values in order, written as an array literal.
public struct SQLArguments: Sendable, ExpressibleByArrayLiteral {
  public var values: [SQLValue]

  public init(arrayLiteral elements: (any SQLValueConvertible)?...) {
    values = elements.map { $0?.sqlValue ?? .null }
  }

  public init(_ elements: [(any SQLValueConvertible)?]) {
    values = elements.map { $0?.sqlValue ?? .null }
  }

  public init(values: [SQLValue]) {
    self.values = values
  }

  public static func + (lhs: SQLArguments, rhs: SQLArguments) -> SQLArguments {
    SQLArguments(values: lhs.values + rhs.values)
  }
}

/// Dates as SQLite holds them: "yyyy-MM-dd HH:mm:ss.SSS" in UTC, the text GRDB
/// writes, so existing databases read back unchanged and sort as text.
enum SQLDateText {
  static func format(_ date: Date) -> String {
    let milliseconds = milliseconds(date)
    let (days, dayMilliseconds) = milliseconds.floorDivided(by: 86_400_000)
    let (year, month, day) = civilDate(fromDays: days)
    let seconds = dayMilliseconds / 1000
    return String(
      format: "%04d-%02d-%02d %02d:%02d:%02d.%03d", year, month, day, Int(seconds / 3600), Int(seconds / 60 % 60),
      Int(seconds % 60), Int(dayMilliseconds % 1000))
  }

  /// "yyyy-MM-dd", with " HH:mm", ":ss" and ".SSS" (or a "T" between) when present; UTC.
  static func parse(_ text: String) -> Date? {
    let bytes = Array(text.utf8)
    func number(_ range: Range<Int>) -> Int? {
      guard range.upperBound <= bytes.count else { return nil }
      var value = 0
      for byte in bytes[range] {
        guard (48...57).contains(byte) else { return nil }
        value = value * 10 + Int(byte - 48)
      }
      return value
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), bytes.count >= 10 else {
      return nil
    }
    var milliseconds = Int64(days(fromYear: year, month: month, day: day)) * 86_400_000
    if bytes.count >= 16, let hour = number(11..<13), let minute = number(14..<16) {
      milliseconds += Int64(hour * 3600 + minute * 60) * 1000
      if bytes.count >= 19, let second = number(17..<19) { milliseconds += Int64(second) * 1000 }
      if bytes.count > 20, bytes[19] == UInt8(ascii: ".") {
        var scale: Int64 = 100
        for byte in bytes[20...] where scale > 0 {
          guard (48...57).contains(byte) else { break }
          milliseconds += Int64(byte - 48) * scale
          scale /= 10
        }
      }
    }
    return SQLDateText.date(milliseconds: milliseconds)
  }

  /// The Date both databases read for a count of milliseconds since 1970, so equal stored values compare equal.
  static func date(milliseconds: Int64) -> Date {
    Date(timeIntervalSince1970: Double(milliseconds) / 1000)
  }

  static func milliseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
  }

  /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
  private static func days(fromYear year: Int, month: Int, day: Int) -> Int {
    let shifted = month <= 2 ? year - 1 : year
    let era = (shifted >= 0 ? shifted : shifted - 399) / 400
    let yearOfEra = shifted - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  private static func civilDate(fromDays days: Int64) -> (Int, Int, Int) {
    let shifted = Int(days) + 719_468
    let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }
}

extension Int64 {
  fileprivate func floorDivided(by divisor: Int64) -> (Int64, Int64) {
    let remainder = ((self % divisor) + divisor) % divisor
    return ((self - remainder) / divisor, remainder)
  }
}
