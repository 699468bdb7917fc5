import AirliftCore
import Foundation
import Testing

private let utc = TimeZone(identifier: "UTC")!

private func at(_ text: String) throws -> Date {
  try #require(ISO8601DateFormatter().date(from: text), "bad test date \(text)")
}

private func windowError(_ expression: String) -> UpdateWindowError? {
  do {
    _ = try UpdateWindow(expression)
    return nil
  } catch {
    return error
  }
}

private func periodError(_ text: String) -> PeriodError? {
  do {
    _ = try Period(text)
    return nil
  } catch {
    return error
  }
}

// 2025-03-01 is a Saturday, 2025-03-09 a Sunday, 2025-03-10 a Monday.
@Suite("Update windows")
struct UpdateWindowTests {
  @Test(
    "a window is open in exactly the minutes its expression matches",
    arguments: [
      ("* 22-23,0-5 * * *", "2025-03-10T22:00:00Z", true), ("* 22-23,0-5 * * *", "2025-03-11T05:59:59Z", true),
      ("* 22-23,0-5 * * *", "2025-03-11T06:00:00Z", false), ("* 22-23,0-5 * * *", "2025-03-10T21:59:59Z", false),
      ("* 9-17 * * mon-fri", "2025-03-10T17:59:00Z", true), ("* 9-17 * * MON-Fri", "2025-03-08T12:00:00Z", false),
      ("* 9-17 * * mon-fri", "2025-03-10T18:00:00Z", false), ("*/15 * * * 1-5", "2025-03-10T10:45:00Z", true),
      ("*/15 * * * 1-5", "2025-03-10T10:46:00Z", false), ("*/15 * * * 1-5", "2025-03-09T10:45:00Z", false),
      ("5-50/20 * * * *", "2025-03-10T10:45:00Z", true), ("5-50/20 * * * *", "2025-03-10T10:50:00Z", false),
      ("5/20 * * * *", "2025-03-10T10:45:00Z", true), ("5/20 * * * *", "2025-03-10T10:05:00Z", true),
      ("0 */6 * * *", "2025-03-10T18:00:00Z", true), ("0 */6 * * *", "2025-03-10T19:00:00Z", false),
      ("0 0 * * *", "2025-03-10T00:00:59Z", true), ("0 0 * * *", "2025-03-10T00:01:00Z", false),
      ("* * * * 0", "2025-03-09T12:00:00Z", true), ("* * * * 7", "2025-03-09T12:00:00Z", true),
      ("* * * * sun", "2025-03-09T12:00:00Z", true), ("* * * * 5-7", "2025-03-09T12:00:00Z", true),
      ("* * * * 1-6", "2025-03-09T12:00:00Z", false), ("* * * * 7", "2025-03-10T12:00:00Z", false),
      ("* * * jan-mar,DEC *", "2025-12-24T12:00:00Z", true), ("* * * jan-mar,DEC *", "2025-11-24T12:00:00Z", false),
      ("  *  *\t* * *  ", "2025-11-24T12:00:00Z", true), ("@always", "2025-11-24T12:00:00Z", true),
    ])
  func matching(expression: String, time: String, expected: Bool) throws {
    #expect(try UpdateWindow(expression).contains(at(time), in: utc) == expected)
  }

  @Test(
    "when both days are restricted either one matches, when one is * only the other counts",
    arguments: [
      ("* * 1 * mon", "2025-03-10T12:00:00Z", true), ("* * 1 * mon", "2025-03-01T12:00:00Z", true),
      ("* * 1 * mon", "2025-03-11T12:00:00Z", false), ("* * 1 * *", "2025-03-01T12:00:00Z", true),
      ("* * 1 * *", "2025-03-10T12:00:00Z", false), ("* * * * mon", "2025-03-10T12:00:00Z", true),
      ("* * * * mon", "2025-03-01T12:00:00Z", false),
    ])
  func dayRule(expression: String, time: String, expected: Bool) throws {
    #expect(try UpdateWindow(expression).contains(at(time), in: utc) == expected)
  }

  @Test("minutes and hours are read in the given time zone")
  func timeZone() throws {
    let midnight = try UpdateWindow("0 0 * * *")
    let india = try #require(TimeZone(secondsFromGMT: 5 * 3_600 + 1_800))
    #expect(midnight.contains(try at("2025-03-09T18:30:00Z"), in: india))
    #expect(!midnight.contains(try at("2025-03-09T18:30:00Z"), in: utc))
    #expect(midnight.nextOpening(after: try at("2025-03-09T05:00:00Z"), in: india) == (try at("2025-03-09T18:30:00Z")))
  }

  @Test("@always and .always are open every minute and keep their text")
  func always() throws {
    let alias = try UpdateWindow("@Always")
    let time = try at("2025-06-15T03:17:00Z")
    #expect(alias.contains(time, in: utc) && UpdateWindow.always.contains(time, in: utc))
    #expect(alias.description == "@Always")
    #expect(UpdateWindow.always.expression == "* * * * *")
    #expect(try UpdateWindow("* * * * *") == UpdateWindow.always)
    #expect(try UpdateWindow("* * * * 1") != UpdateWindow("* * * * 2"))
  }

  @Test(
    "nextOpening finds the first open minute at or after a date",
    arguments: [
      ("* 22-23,0-5 * * *", "2025-03-10T23:10:30Z", "2025-03-10T23:10:30Z"),
      ("* 22-23,0-5 * * *", "2025-03-10T12:10:30Z", "2025-03-10T22:00:00Z"),
      ("30 3 * * *", "2025-03-10T12:00:00Z", "2025-03-11T03:30:00Z"),
      ("*/15 * * * *", "2025-03-10T12:01:00Z", "2025-03-10T12:15:00Z"),
      ("*/15 * * * *", "2025-03-10T12:46:10Z", "2025-03-10T13:00:00Z"),
      ("0 0 * * *", "2025-01-31T12:00:00Z", "2025-02-01T00:00:00Z"),
      ("0 0 1 1 *", "2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z"),
      ("0 0 31 * *", "2025-04-01T00:00:00Z", "2025-05-31T00:00:00Z"),
      ("* * * * sat,sun", "2025-03-10T08:00:00Z", "2025-03-15T00:00:00Z"),
      ("0 12 13 * fri", "2025-03-01T13:00:00Z", "2025-03-07T12:00:00Z"),
      ("0 0 29 2 *", "2025-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
    ])
  func nextOpening(expression: String, from: String, expected: String) throws {
    #expect(try UpdateWindow(expression).nextOpening(after: at(from), in: utc) == at(expected))
  }

  @Test("a window that can never open has no next opening", arguments: ["* * 31 2 *", "0 0 30,31 2 *", "* * 31 4,6 *"])
  func neverOpens(expression: String) throws {
    let window = try UpdateWindow(expression)
    #expect(window.nextOpening(after: try at("2025-01-01T00:00:00Z"), in: utc) == nil)
  }

  @Test(
    "mistakes are refused with the position of the offending character",
    arguments: [
      ("* 25 * * *", 3, UpdateWindow.Field?.some(.hour), "25 is out of range 0-23"),
      ("* * *", 6, nil, "found 3"), ("* * * * * *", 11, nil, "found 6"), ("", 1, nil, "empty window"),
      ("@daily", 1, nil, "unknown alias"), ("@always *", 9, nil, "nothing may follow"),
      ("1,,2 * * * *", 3, .minute, "empty list item"), ("1, * * * *", 3, .minute, "empty list item"),
      ("x * * * *", 1, .minute, "'x' is not a number"), ("* mon * * *", 3, .hour, "only in month and day-of-week"),
      ("* * * foo *", 7, .month, "unknown month name 'foo'"), ("* * * 1x *", 7, .month, "'1x' is not a number or"),
      ("* * * * monday", 9, .dayOfWeek, "unknown day-of-week name 'monday'"),
      ("* * 0 * *", 5, .dayOfMonth, "0 is out of range 1-31"), ("* * * 13 *", 7, .month, "out of range 1-12"),
      ("* * * * 8", 9, .dayOfWeek, "out of range 0-7"), ("0-60 * * * *", 3, .minute, "60 is out of range 0-59"),
      ("* 22-5 * * *", 3, .hour, "write 22-23,0-5"), ("5-1 * * * *", 1, .minute, "write 5-59,0-1"),
      ("* * * * fri-mon", 9, .dayOfWeek, "write fri-sat,sun-mon"),
      ("*/0 * * * *", 3, .minute, "step must be at least 1"), ("1-2/0 * * * *", 5, .minute, "at least 1"),
      ("*/x * * * *", 3, .minute, "step 'x' is not a number"), ("*/ * * * *", 3, .minute, "missing step"),
      ("*,5 * * * *", 1, .minute, "cannot be part of a list"), ("*x * * * *", 2, .minute, "unexpected 'x'"),
      ("1-2-3 * * * *", 4, .minute, "unexpected '-'"), ("5- * * * *", 3, .minute, "missing value after '-'"),
    ])
  func errors(expression: String, position: Int, field: UpdateWindow.Field?, reason: String) throws {
    let error = try #require(windowError(expression))
    #expect(error.position == position)
    #expect(error.field == field)
    #expect(error.reason.contains(reason), "\(error)")
    #expect(error.expression == expression)
  }

  @Test("the error names the field and points a caret at the mistake")
  func errorText() throws {
    let error = try #require(windowError("* 25 * * *"))
    #expect(error == .invalid(expression: "* 25 * * *", position: 3, field: .hour, reason: "25 is out of range 0-23"))
    #expect(error.description == "invalid window '* 25 * * *' at position 3 (hour): 25 is out of range 0-23")
    #expect(error.pointer == "* 25 * * *\n  ^")
  }
}

@Suite("Periods")
struct PeriodTests {
  @Test(
    "every unit parses, compounds add up, and the description is the largest whole unit",
    arguments: [
      ("30s", 30, "30s"), ("10sec", 10, "10s"), ("10secs", 10, "10s"), ("90s", 90, "90s"), ("5m", 300, "5min"),
      ("15min", 900, "15min"), ("2mins", 120, "2min"), ("1h", 3_600, "1hr"), ("6hr", 21_600, "6hr"),
      ("3hrs", 10_800, "3hr"), ("1hour", 3_600, "1hr"), ("2hours", 7_200, "2hr"), ("48h", 172_800, "2days"),
      ("1d", 86_400, "1day"), ("1day", 86_400, "1day"), ("2days", 172_800, "2days"), ("1h30min", 5_400, "90min"),
      ("1d2h3m4s", 93_784, "93784s"), ("0s", 0, "0s"), (" 7MIN ", 420, "7min"),
    ])
  func parsing(text: String, seconds: Int, canonical: String) throws {
    let period = try Period(text)
    #expect(period.seconds == seconds)
    #expect(period.description == canonical)
    #expect(try Period(canonical) == period)
  }

  @Test(
    "mistakes are refused with the position of the offending character",
    arguments: [
      ("15 minutes", 3, "followed directly by a unit"), ("", 1, "empty period"), ("15", 3, "missing unit"),
      ("15x", 3, "unknown unit 'x'"), ("min", 1, "starts with a number"), ("-5s", 1, "starts with a number"),
      ("1.5h", 2, "followed directly by a unit"), ("30min1h", 7, "from largest to smallest"),
      ("1h1h", 4, "from largest to smallest"), ("1h 30min", 3, "unexpected ' '"),
      ("99999999999999999999s", 1, "too large"), ("9999999999999999d", 1, "too large"),
    ])
  func errors(text: String, position: Int, reason: String) throws {
    let error = try #require(periodError(text))
    #expect(error.position == position)
    #expect(error.reason.contains(reason), "\(error)")
  }

  @Test("the error message quotes the text and gives examples")
  func errorText() throws {
    let error = try #require(periodError("15 minutes"))
    #expect(
      error.description
        == "invalid period '15 minutes' at position 3: 15 must be followed directly by a unit, found ' ' "
        + "(expected e.g. 30s, 15min, 6hr, 1day)")
    #expect(error.pointer == "15 minutes\n  ^")
  }

  @Test("periods order by length and convert to a Duration")
  func ordering() throws {
    #expect(try Period("59min") < Period("1h"))
    #expect(try Period("1h") == Period(seconds: 3_600))
    #expect(Period(seconds: 90).duration == .seconds(90))
  }
}
