import Foundation

/// A cron-like window of time: the set of minutes a five-field expression matches. The agent's `schedule` (when it
/// checks and downloads) and `apply` (when it installs) are windows; a window is open during every matching minute.
///
/// ```
/// window   = field SP field SP field SP field SP field      (fields separated by one or more spaces)
///          | "@always"                                      (same as "* * * * *")
/// field    = "*" [ "/" step ] | item *( "," item )
/// item     = value [ "-" value ] [ "/" step ]
/// value    = number | name          (names: jan..dec for month, sun..sat for day-of-week, case-insensitive)
/// ranges   : minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7 (0 and 7 are Sunday)
/// ```
///
/// - `a-b` is every value from `a` to `b`; ranges do not wrap around, so write `22-23,0-5` rather than `22-5`.
/// - `/step` (at least 1) keeps every step-th value of the range, starting at its first: `*/15` is 0,15,30,45.
///   A single value with a step runs to the end of the field: `5/20` in the minute field is 5,25,45.
/// - As in Vixie cron, when both day-of-month and day-of-week are restricted (anything but a plain `*`), a day
///   matches if either matches; when one of them is `*`, only the other counts.
///
/// Examples: `* 22-23,0-5 * * *` is open every night from 22:00 to 05:59, `* 9-17 * * mon-fri` during office
/// hours, `*/15 * * * 1-5` only in minutes 0, 15, 30 and 45 of weekdays, `* * * * *` always.
public struct UpdateWindow: Sendable, Equatable, CustomStringConvertible {
  /// The five fields of a window expression, in order.
  public enum Field: String, Sendable, CaseIterable {
    case minute
    case hour
    case dayOfMonth = "day-of-month"
    case month
    case dayOfWeek = "day-of-week"

    /// The values the field accepts.
    public var range: ClosedRange<Int> {
      switch self {
      case .minute: return 0...59
      case .hour: return 0...23
      case .dayOfMonth: return 1...31
      case .month: return 1...12
      case .dayOfWeek: return 0...7
      }
    }

    /// Names accepted instead of numbers, lower-case, starting with the value `range.lowerBound`.
    var names: [String] {
      switch self {
      case .month: return ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
      case .dayOfWeek: return ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
      default: return []
      }
    }

    /// The last value of `*` and of `value/step` (Saturday for day-of-week, so Sunday is not counted twice).
    var last: Int { self == .dayOfWeek ? 6 : range.upperBound }
  }

  /// Open every minute.
  public static let always = UpdateWindow(
    expression: "* * * * *", minutes: mask(0...59), hours: mask(0...23), days: mask(1...31), months: mask(1...12),
    weekdays: mask(0...6), anyDay: true, anyWeekday: true)

  /// The expression as written.
  public let expression: String
  // One bit per matching value (bit n set: value n matches); day-of-week 7 is stored as 0.
  private let minutes: UInt64
  private let hours: UInt64
  private let days: UInt64
  private let months: UInt64
  private let weekdays: UInt64
  // Whether day-of-month / day-of-week is a plain `*` (see the day rule above).
  private let anyDay: Bool
  private let anyWeekday: Bool

  private init(
    expression: String, minutes: UInt64, hours: UInt64, days: UInt64, months: UInt64, weekdays: UInt64,
    anyDay: Bool, anyWeekday: Bool
  ) {
    self.expression = expression
    self.minutes = minutes
    self.hours = hours
    self.days = days
    self.months = months
    self.weekdays = weekdays
    self.anyDay = anyDay
    self.anyWeekday = anyWeekday
  }

  /// Parses a window expression (see the type's grammar); errors point at the offending character.
  public init(_ expression: String) throws(UpdateWindowError) {
    let parser = WindowParser(expression: expression, chars: Array(expression))
    let fields = parser.fieldRanges()
    if let first = fields.first, parser.chars[first.lowerBound] == "@" {
      guard parser.text(first).lowercased() == "@always" else {
        throw parser.fail(first.lowerBound, nil, "unknown alias '\(parser.text(first))' (only @always exists)")
      }
      if fields.count > 1 { throw parser.fail(fields[1].lowerBound, nil, "nothing may follow @always") }
      let all = UpdateWindow.always
      self.init(
        expression: expression, minutes: all.minutes, hours: all.hours, days: all.days, months: all.months,
        weekdays: all.weekdays, anyDay: true, anyWeekday: true)
      return
    }
    let names = "(minute hour day-of-month month day-of-week)"
    if fields.isEmpty {
      throw parser.fail(0, nil, "empty window: expected 5 fields \(names) or @always")
    }
    if fields.count < 5 {
      let missing = Field.allCases[fields.count...].map(\.rawValue).joined(separator: ", ")
      throw parser.fail(
        fields[fields.count - 1].upperBound, nil,
        "expected 5 fields \(names), found \(fields.count) (missing \(missing))")
    }
    if fields.count > 5 {
      throw parser.fail(fields[5].lowerBound, nil, "expected 5 fields \(names), found \(fields.count)")
    }
    let minute = try parser.parseField(fields[0], .minute)
    let hour = try parser.parseField(fields[1], .hour)
    let day = try parser.parseField(fields[2], .dayOfMonth)
    let month = try parser.parseField(fields[3], .month)
    let weekday = try parser.parseField(fields[4], .dayOfWeek)
    self.init(
      expression: expression, minutes: minute.mask, hours: hour.mask, days: day.mask, months: month.mask,
      weekdays: weekday.mask, anyDay: day.isStar, anyWeekday: weekday.isStar)
  }

  public var description: String { expression }

  /// Whether the window is open at `date`, as seen in `timeZone`.
  public func contains(_ date: Date, in timeZone: TimeZone = .current) -> Bool {
    matches(Self.calendar(timeZone).dateComponents(Self.components, from: date))
  }

  /// The first minute at or after `date` in which the window is open, as seen in `timeZone`: `date` itself when the
  /// window is already open, otherwise the start of the next open minute. Nil if the window never opens (such as
  /// `* * 31 2 *`); the search looks about eight years ahead, so `* * 29 2 *` finds the next leap day.
  public func nextOpening(after date: Date, in timeZone: TimeZone = .current) -> Date? {
    let calendar = Self.calendar(timeZone)
    if matches(calendar.dateComponents(Self.components, from: date)) { return date }
    guard canEverOpen else { return nil }
    let limit = date.addingTimeInterval(Self.horizon)
    var time = Self.end(of: .minute, containing: date, calendar)
    while time <= limit {
      let c = calendar.dateComponents(Self.components, from: time)
      guard let minute = c.minute, let hour = c.hour, let day = c.day, let month = c.month, let weekday = c.weekday
      else { return nil }
      if !Self.has(months, month) {
        time = Self.end(of: .month, containing: time, calendar)
      } else if !dayMatches(day: day, weekday: weekday - 1) {
        time = Self.end(of: .day, containing: time, calendar)
      } else if !Self.has(hours, hour) {
        time = Self.end(of: .hour, containing: time, calendar)
      } else if !Self.has(minutes, minute) {
        let hourEnd = Self.end(of: .hour, containing: time, calendar)
        let later = minutes >> UInt64(minute + 1)
        if later == 0 {
          time = hourEnd
        } else {
          time = min(time.addingTimeInterval(Double(60 * (later.trailingZeroBitCount + 1))), hourEnd)
        }
      } else {
        return time
      }
    }
    return nil
  }

  private static let components: Set<Calendar.Component> = [.minute, .hour, .day, .month, .weekday]
  /// How far `nextOpening` looks: eight years and a bit, the longest gap between two February 29ths.
  private static let horizon: TimeInterval = (8 * 366 + 2) * 86_400

  private static func calendar(_ timeZone: TimeZone) -> Calendar {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    return calendar
  }

  /// The start of the next `component` (minute, hour, day, month) after the one holding `date`.
  private static func end(of component: Calendar.Component, containing date: Date, _ calendar: Calendar) -> Date {
    if let end = calendar.dateInterval(of: component, for: date)?.end, end > date { return end }
    return Date(timeIntervalSinceReferenceDate: (date.timeIntervalSinceReferenceDate / 60).rounded(.down) * 60 + 60)
  }

  private static func has(_ mask: UInt64, _ value: Int) -> Bool { value >= 0 && value < 64 && mask & (1 << value) != 0 }

  fileprivate static func mask(_ values: ClosedRange<Int>, step: Int = 1) -> UInt64 {
    var mask: UInt64 = 0
    for value in stride(from: values.lowerBound, through: values.upperBound, by: step) { mask |= 1 << value }
    return mask
  }

  private func matches(_ c: DateComponents) -> Bool {
    guard let minute = c.minute, let hour = c.hour, let day = c.day, let month = c.month, let weekday = c.weekday
    else { return false }
    return Self.has(minutes, minute) && Self.has(hours, hour) && Self.has(months, month)
      && dayMatches(day: day, weekday: weekday - 1)
  }

  /// The day rule: both restricted, either matches; otherwise the restricted one (if any) decides.
  private func dayMatches(day: Int, weekday: Int) -> Bool {
    let byDay = Self.has(days, day)
    let byWeekday = Self.has(weekdays, weekday)
    switch (anyDay, anyWeekday) {
    case (true, true): return true
    case (true, false): return byWeekday
    case (false, true): return byDay
    case (false, false): return byDay || byWeekday
    }
  }

  /// False when the chosen days of the month exist in none of the chosen months (such as February 31st).
  private var canEverOpen: Bool {
    guard !anyDay, anyWeekday else { return true }
    let longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return (1...12).contains { Self.has(months, $0) && days & Self.mask(1...longest[$0]) != 0 }
  }
}

/// Why a window expression was refused, with the 1-based character position of the mistake.
public struct UpdateWindowError: PositionedError, Equatable, Sendable {
  public let expression: String
  /// The 1-based character position of the mistake (one past the end when something is missing at the end).
  public let position: Int
  /// Nil when the mistake is in the expression as a whole (such as the number of fields).
  public let field: UpdateWindow.Field?
  public let reason: String

  public var text: String { expression }

  public static func invalid(expression: String, position: Int, field: UpdateWindow.Field?, reason: String) -> Self {
    Self(expression: expression, position: position, field: field, reason: reason)
  }

  public var description: String {
    let field = self.field.map { " (\($0.rawValue))" } ?? ""
    return "invalid window '\(expression)' at position \(position)\(field): \(reason)"
  }
}

/// Parses the fields of a window expression; indices are 0-based offsets into `chars`.
private struct WindowParser {
  let expression: String
  let chars: [Character]

  func fail(_ index: Int, _ field: UpdateWindow.Field?, _ reason: String) -> UpdateWindowError {
    .invalid(expression: expression, position: index + 1, field: field, reason: reason)
  }

  func text(_ range: Range<Int>) -> String { String(chars[range]) }

  /// The fields, separated by spaces or tabs.
  func fieldRanges() -> [Range<Int>] {
    var fields: [Range<Int>] = []
    var start: Int?
    for (index, char) in chars.enumerated() {
      let blank = char == " " || char == "\t"
      if blank, let first = start {
        fields.append(first..<index)
        start = nil
      } else if !blank, start == nil {
        start = index
      }
    }
    if let first = start { fields.append(first..<chars.count) }
    return fields
  }

  /// One field's set of values, and whether it was a plain `*`.
  func parseField(_ range: Range<Int>, _ field: UpdateWindow.Field) throws(UpdateWindowError) -> (
    mask: UInt64, isStar: Bool
  ) {
    let first = range.lowerBound
    if chars[first] == "*" {
      let all = field.range.lowerBound...field.last
      let next = first + 1
      if next == range.upperBound { return (UpdateWindow.mask(all), true) }
      switch chars[next] {
      case "/":
        let end = chars[next..<range.upperBound].firstIndex(of: ",") ?? range.upperBound
        let step = try parseStep(next + 1..<end, field)
        if end < range.upperBound { throw fail(first, field, "'*/\(step)' cannot be part of a list") }
        return (UpdateWindow.mask(all, step: step), false)
      case ",":
        throw fail(first, field, "'*' cannot be part of a list; list the values instead")
      default:
        throw fail(next, field, "unexpected '\(chars[next])' after '*'")
      }
    }
    var mask: UInt64 = 0
    var start = first
    while true {
      let end = chars[start..<range.upperBound].firstIndex(of: ",") ?? range.upperBound
      mask |= try parseItem(start..<end, field)
      if end == range.upperBound { return (mask, false) }
      start = end + 1
    }
  }

  /// `value [ "-" value ] [ "/" step ]`.
  private func parseItem(_ range: Range<Int>, _ field: UpdateWindow.Field) throws(UpdateWindowError) -> UInt64 {
    guard !range.isEmpty else { throw fail(range.lowerBound, field, "empty list item") }
    let low = try parseValue(range.lowerBound, range.upperBound, field, afterDash: false)
    var high = low
    var index = low.end
    if index < range.upperBound, chars[index] == "-" {
      high = try parseValue(index + 1, range.upperBound, field, afterDash: true)
      index = high.end
      if low.value > high.value {
        let upper = low.value >= field.last ? low.text : "\(low.text)-\(name(field.last, field, like: low.text))"
        let lower =
          high.value == field.range.lowerBound
          ? high.text : "\(name(field.range.lowerBound, field, like: high.text))-\(high.text)"
        throw fail(
          range.lowerBound, field,
          "range \(low.text)-\(high.text) is reversed; ranges do not wrap around, so write \(upper),\(lower)")
      }
    }
    var step = 1
    if index < range.upperBound, chars[index] == "/" {
      step = try parseStep(index + 1..<range.upperBound, field)
      if high.end == low.end { high = (max(field.last, low.value), "", index) }  // `value/step` runs to the end
      index = range.upperBound
    }
    if index < range.upperBound { throw fail(index, field, "unexpected '\(chars[index])'") }
    var mask: UInt64 = 0
    for value in stride(from: low.value, through: high.value, by: step) {
      mask |= 1 << (field == .dayOfWeek && value == 7 ? 0 : value)
    }
    return mask
  }

  /// A number or name starting at `start`, up to the next `-` or `/` (or `end`).
  private func parseValue(_ start: Int, _ end: Int, _ field: UpdateWindow.Field, afterDash: Bool)
    throws(UpdateWindowError) -> (value: Int, text: String, end: Int)
  {
    let stop = chars[start..<end].firstIndex { $0 == "-" || $0 == "/" } ?? end
    let token = text(start..<stop)
    if token.isEmpty {
      if afterDash { throw fail(start, field, "missing value after '-'") }
      throw fail(start, field, "missing value before '\(chars[start])'")
    }
    if token == "*" { throw fail(start, field, "'*' cannot be part of a list or range") }
    if token.allSatisfy(\.isASCIIDigit) {
      guard token.count <= 4, let value = Int(token), field.range.contains(value) else {
        throw fail(
          start, field, "\(token) is out of range \(field.range.lowerBound)-\(field.range.upperBound)")
      }
      return (value, token, stop)
    }
    let lower = token.lowercased()
    if let index = field.names.firstIndex(of: lower) { return (field.range.lowerBound + index, token, stop) }
    let isWord = token.allSatisfy { $0.isASCII && $0.isLetter }
    if field.names.isEmpty {
      let known = UpdateWindow.Field.month.names.contains(lower) || UpdateWindow.Field.dayOfWeek.names.contains(lower)
      let hint = known ? " (names are allowed only in month and day-of-week)" : ""
      throw fail(start, field, "'\(token)' is not a number\(hint)")
    }
    if isWord {
      let first = field.names[0]
      let last = field.names[field.names.count - 1]
      throw fail(start, field, "unknown \(field.rawValue) name '\(token)' (use \(first)..\(last))")
    }
    throw fail(start, field, "'\(token)' is not a number or \(field.rawValue) name")
  }

  /// The number after a `/`, at least 1.
  private func parseStep(_ range: Range<Int>, _ field: UpdateWindow.Field) throws(UpdateWindowError) -> Int {
    let token = text(range)
    if token.isEmpty { throw fail(range.lowerBound, field, "missing step after '/'") }
    guard token.allSatisfy(\.isASCIIDigit) else {
      throw fail(range.lowerBound, field, "step '\(token)' is not a number")
    }
    guard let step = Int(token.count > 4 ? "9999" : token), step >= 1 else {
      throw fail(range.lowerBound, field, "step must be at least 1")
    }
    return step
  }

  /// `value` written as a name if `example` was a name, else as a number.
  private func name(_ value: Int, _ field: UpdateWindow.Field, like example: String) -> String {
    guard example.first?.isLetter == true, !field.names.isEmpty else { return String(value) }
    return field.names[value - field.range.lowerBound]
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
