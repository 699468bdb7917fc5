/// A length of time written as a whole number and a unit, such as `30s`, `15min`, `6hr` or `1day`, or as several of
/// them, `1h30min`: the agent's check-in `period` and its random `jitter`. Zero (`0s`) parses; callers that need a
/// positive period check `seconds > 0`.
///
/// ```
/// period = 1*( number unit )      (no spaces; units from largest to smallest, each at most once)
/// unit   = "d" | "day" | "days"
///        | "h" | "hr" | "hrs" | "hour" | "hours"
///        | "m" | "min" | "mins" | "minute" | "minutes"
///        | "s" | "sec" | "secs" | "second" | "seconds"      (case-insensitive)
/// ```
public struct Period: Sendable, Equatable, Comparable, CustomStringConvertible {
  public var seconds: Int

  public init(seconds: Int) {
    self.seconds = seconds
  }

  /// Parses a period (see the type's grammar); errors point at the offending character.
  public init(_ text: String) throws(PeriodError) {
    let chars = Array(text)
    func fail(_ index: Int, _ reason: String) -> PeriodError {
      .invalid(text: text, position: index + 1, reason: reason)
    }
    var start = chars.firstIndex { !$0.isWhitespace } ?? chars.count
    let end = (chars.lastIndex { !$0.isWhitespace } ?? -1) + 1
    guard start < end else { throw fail(0, "empty period") }
    var total = 0
    var previous: Unit?
    while start < end {
      let digitsEnd = chars[start..<end].firstIndex { !($0.isASCII && $0.isNumber) } ?? end
      let number = String(chars[start..<digitsEnd])
      if number.isEmpty {
        guard let previous else { throw fail(start, "a period starts with a number, not '\(chars[start])'") }
        throw fail(start, "unexpected '\(chars[start])' after '\(previous.name)'")
      }
      let unitEnd = chars[digitsEnd..<end].firstIndex { !($0.isASCII && $0.isLetter) } ?? end
      let word = String(chars[digitsEnd..<unitEnd])
      if word.isEmpty {
        if digitsEnd == end { throw fail(end, "missing unit after \(number)") }
        throw fail(digitsEnd, "\(number) must be followed directly by a unit, found '\(chars[digitsEnd])'")
      }
      guard let unit = Unit(word) else { throw fail(digitsEnd, "unknown unit '\(word)'") }
      if let previous, unit.seconds >= previous.seconds {
        throw fail(digitsEnd, "'\(word)' after '\(previous.name)': write units from largest to smallest, each once")
      }
      guard number.count <= 18, let value = Int(number) else { throw fail(start, "\(number) is too large") }
      let (product, overflow) = value.multipliedReportingOverflow(by: unit.seconds)
      let (sum, overflowSum) = total.addingReportingOverflow(product)
      guard !overflow, !overflowSum else { throw fail(start, "\(number)\(word) is too large") }
      total = sum
      previous = unit
      start = unitEnd
    }
    seconds = total
  }

  /// The period for `Task.sleep(for:)` and friends.
  public var duration: Duration { .seconds(seconds) }

  /// The period in its largest whole unit: `90s`, `15min`, `6hr`, `1day`, `2days` (parses back to the same value).
  public var description: String {
    if seconds != 0, seconds % 86_400 == 0 { return "\(seconds / 86_400)\(seconds == 86_400 ? "day" : "days")" }
    if seconds != 0, seconds % 3_600 == 0 { return "\(seconds / 3_600)hr" }
    if seconds != 0, seconds % 60 == 0 { return "\(seconds / 60)min" }
    return "\(seconds)s"
  }

  public static func < (a: Period, b: Period) -> Bool { a.seconds < b.seconds }

  private struct Unit {
    let name: String
    let seconds: Int

    init?(_ word: String) {
      switch word.lowercased() {
      case "d", "day", "days": seconds = 86_400
      case "h", "hr", "hrs", "hour", "hours": seconds = 3_600
      case "m", "min", "mins", "minute", "minutes": seconds = 60
      case "s", "sec", "secs", "second", "seconds": seconds = 1
      default: return nil
      }
      name = word
    }
  }
}

/// Why a period was refused, with the 1-based character position of the mistake.
public struct PeriodError: PositionedError, Equatable, Sendable {
  public let text: String
  /// The 1-based character position of the mistake (one past the end when something is missing at the end).
  public let position: Int
  public let reason: String

  public static func invalid(text: String, position: Int, reason: String) -> Self {
    Self(text: text, position: position, reason: reason)
  }

  public var description: String {
    "invalid period '\(text)' at position \(position): \(reason) (expected e.g. 30s, 15min, 6hr, 1day)"
  }
}
