import AirliftCore
import Testing

private let gateway = PolicySubject(
  attributes: [
    "model": "gw-200", "region": "eu", "tags": "lab, eu-test,,beta", "battery": "20", "temp": "-3.5",
    "fw": "1.10.0", "build": "2.0.0-rc.1", "label": #"say "hi" \o/"#, "empty": "",
  ],
  installed: ["gw-fw": "1.9.0", "agent": "2.0.0-rc.1", "odd": "latest"])

/// A device that reports nothing: every attribute and package is missing.
private let bare = PolicySubject()

private func expressionError(_ text: String) -> PolicyExpressionError? {
  do {
    _ = try PolicyExpression(text)
    return nil
  } catch {
    return error
  }
}

@Suite("Policy expressions")
struct PolicyExpressionTests {
  @Test(
    "expressions match the devices their rules describe",
    arguments: [
      // Equality is exact text unless both sides are versions.
      (#"model == "gw-200""#, gateway, true), (#"model == "GW-200""#, gateway, false),
      (#"model != "gw-200""#, gateway, false), (#"empty == """#, gateway, true),
      (#"label == "say \"hi\" \\o/""#, gateway, true), (#"label == "say \"hi\"""#, gateway, false),
      ("model==\"gw-200\"\n&&\tregion==\"eu\"", gateway, true),
      // Missing attributes and packages: only != holds.
      (#"region == "eu""#, bare, false), (#"region != "eu""#, bare, true), (#"!(region == "eu")"#, bare, true),
      (#"has(region) && region != "eu""#, bare, false), (#"region < "zz""#, bare, false),
      (#"region in ["eu", "us"]"#, bare, false), (#"tags contains "lab""#, bare, false),
      (#"app("gw-fw") < "2.0.0""#, bare, false), (#"app("gw-fw") != "2.0.0""#, bare, true),
      // Ordering text that is neither a version nor a number is false.
      (#"region < "zz""#, gateway, false), (#"region <= "eu""#, gateway, false), (#"region >= "eu""#, gateway, false),
      // in
      (#"region in ["eu", "us"]"#, gateway, true), (#"region in ["us"]"#, gateway, false),
      (#"region in []"#, gateway, false), (#"battery in [10, 20, 30]"#, gateway, true),
      (#"fw in ["1.10.0+build.7"]"#, gateway, true),
      // contains: comma-separated elements, trimmed, never substrings.
      (#"tags contains "lab""#, gateway, true), (#"tags contains "eu-test""#, gateway, true),
      (#"tags contains "beta""#, gateway, true), (#"tags contains " beta ""#, gateway, true),
      (#"tags contains "eu""#, gateway, false), (#"tags contains """#, gateway, false),
      (#"model contains "gw-200""#, gateway, true), (#"tags contains region"#, gateway, false),
      // Versions compare by SemVer precedence, quoted or not.
      (#"fw > "1.9.0""#, gateway, true), (#"fw > 1.9.0"#, gateway, true), (#"fw < "1.9.0""#, gateway, false),
      (#""1.10.0" > "1.9.0""#, gateway, true), (#"build < "2.0.0""#, gateway, true),
      (#"app("agent") >= "2.0.0-rc.1" && app("agent") < 2.0.0"#, gateway, true),
      (#"app("agent") < "2.0.0-beta""#, gateway, false), (#"app("gw-fw") == "1.9.0+build.5""#, gateway, true),
      (#"app("gw-fw") < "2.0.0""#, gateway, true), (#"app("nope") < "2.0.0""#, gateway, false),
      (#"app("odd") < "2.0.0""#, gateway, false), (#"app("odd") == "latest""#, gateway, true),
      (#"fw >= 2"#, gateway, false),
      // Numbers compare numerically with <, <=, >, >=; == stays exact text.
      (#"battery >= 20"#, gateway, true), (#"battery > 20"#, gateway, false), (#"battery < 100"#, gateway, true),
      (#"battery >= 20.5"#, gateway, false), (#"battery <= "20""#, gateway, true), (#"temp < 0"#, gateway, true),
      (#"temp > -4"#, gateway, true), (#"battery == 20"#, gateway, true), (#"battery == 20.0"#, gateway, false),
      // installed() and has()
      (#"installed("gw-fw")"#, gateway, true), (#"installed("nope")"#, gateway, false),
      (#"!installed("nope")"#, gateway, true), (#"has(model)"#, gateway, true), (#"has("empty")"#, gateway, true),
      (#"has(nothing)"#, gateway, false), (#"has(model)"#, bare, false),
      // Precedence: comparison, then !, then &&, then ||.
      (#"model == "gw-200" || region == "us" && battery > 50"#, gateway, true),
      (#"(model == "gw-200" || region == "us") && battery > 50"#, gateway, false),
      (#"!(model == "gw-200" || region == "us")"#, gateway, false), (#"!model == "gw-200""#, gateway, false),
      (#"!region == "us" && !false"#, gateway, true), (#"!!true"#, gateway, true), (#"((false))"#, gateway, false),
      (#"false || true && false"#, gateway, false), (#"true || false && false"#, gateway, true),
      (
        #"model == "gw-200" && region in ["eu", "us"] && app("gw-fw") < "2.0.0" && !(tags contains "lab")"#,
        gateway, false
      ),
      (#"model == "gw-200" && region in ["eu", "us"] && app("gw-fw") < "2.0.0""#, gateway, true),
    ])
  func matching(text: String, subject: PolicySubject, expected: Bool) throws {
    #expect(try PolicyExpression(text).matches(subject) == expected)
  }

  @Test(
    "mistakes are refused with the position of the offending character",
    arguments: [
      ("model == ", 10, #"expected a value (a name, "string", number or app("…")) but the expression ended"#),
      (#"model == "a" && ap("y")"#, 17, "unknown function 'ap' (known: app, installed, has)"),
      (#"region in ["eu" "us"]"#, 17, #"expected ']' or ',' in the list, found '"us"'"#),
      (#"region in ["eu""#, 16, "expected ']' or ',' in the list but the expression ended"),
      (#"region in ["eu",]"#, 17, "expected a string or number in the list, found ']'"),
      (#"region in [eu]"#, 12, "string or number in the list, found 'eu'"),
      (#"region in "eu""#, 11, "expected '[' to start a list"),
      (#"model == "gw"#, 10, "unterminated string"), (#"a == "x\""#, 6, "unterminated string"),
      (#"a == "\n""#, 7, #"unknown escape '\n'"#), (#"a == 'x'"#, 6, "double quotes"),
      (#"model == "a")"#, 13, "unexpected ')'"), (#"model == "a" x"#, 14, "expected '&&', '||' or the end, found 'x'"),
      (#"(a == "1""#, 10, "to close the '(' at position 1 but the expression ended"),
      (#"a == "1" & b == "2""#, 10, "did you mean '&&'?"), (#"a == "1" | b"#, 10, "did you mean '||'?"),
      (#"a = "1""#, 3, "did you mean '=='?"), ("", 1, "empty expression"), ("  \t", 1, "empty expression"),
      (
        "model", 6, "expected '==', '!=', '<', '<=', '>', '>=', 'in' or 'contains' after model but the expression ended"
      ),
      (#"a == b == c"#, 8, "'==' cannot follow a comparison"),
      (#"installed("x") == true"#, 16, "'==' cannot follow a condition"),
      (#"true contains "x""#, 6, "'contains' cannot follow a condition"),
      (#"a == has("y")"#, 6, "has(…) is true or false"),
      (#"app(gw) == "1.0.0""#, 5, "expected a package name (a string in double quotes)"),
      (#"app("gw" == "1.0.0""#, 10, "expected ')' after the argument of app(…), found '=='"),
      (#"has(1)"#, 5, "an attribute name (a name or a string)"),
      (#"a == 12ab"#, 6, "'12ab' is not a number or version"),
      (#"a == "x" &&"#, 12, #"expected a condition (such as model == "gw-200") but the expression ended"#),
      (#"&& a == "x""#, 1, "expected a condition"), ("!", 2, "expected a condition"),
      (#"in == "x""#, 1, "expected a condition"), (#"a == "x" && #"#, 13, "unexpected character '#'"),
    ])
  func errors(text: String, position: Int, reason: String) throws {
    let error = try #require(expressionError(text))
    #expect(error.position == position)
    #expect(error.reason.contains(reason), "\(error)")
    #expect(error.expression == text)
  }

  @Test("the error quotes the expression and points a caret at the mistake")
  func errorText() throws {
    let error = try #require(expressionError("model == "))
    let reason = #"expected a value (a name, "string", number or app("…")) but the expression ended"#
    #expect(error == .invalid(expression: "model == ", position: 10, reason: reason))
    #expect(error.description == "invalid expression 'model == ' at position 10: " + reason)
    #expect(error.pointer == "model == \n         ^")
    let tabbed = try #require(expressionError("a ==\tb c"))
    #expect(tabbed.pointer == "a ==\tb c\n    \t  ^")
  }

  @Test("nesting up to 64 levels of parentheses or '!' is accepted, and one more is refused")
  func nesting() throws {
    let parentheses = String(repeating: "(", count: 64) + "true" + String(repeating: ")", count: 64)
    #expect(try PolicyExpression(parentheses).matches(bare))
    #expect(try PolicyExpression(String(repeating: "!", count: 64) + "true").matches(bare))
    let tooDeep = try #require(expressionError("(" + parentheses + ")"))
    #expect(tooDeep.position == 65)
    #expect(tooDeep.reason.contains("nested more than 64"))
    let tooManyNots = try #require(expressionError(String(repeating: "!", count: 65) + "true"))
    #expect(tooManyNots.position == 65)
  }

  @Test("an expression of 4096 characters is accepted, and a longer one is refused")
  func length() throws {
    let longest = #"a == ""# + String(repeating: "z", count: 4_096 - 7) + #"""#
    #expect(longest.count == 4_096)
    #expect(
      try PolicyExpression(longest).matches(PolicySubject(attributes: ["a": String(repeating: "z", count: 4_089)])))
    let error = try #require(expressionError(longest + " "))
    #expect(error.position == 4_097)
    #expect(error.reason.contains("longer than 4096 characters"))
  }

  @Test("the text is kept as written and equality compares it")
  func text() throws {
    let expression = try PolicyExpression(#"model  ==  "gw-200""#)
    #expect(expression.text == #"model  ==  "gw-200""#)
    #expect(expression.description == expression.text)
    #expect(try expression == PolicyExpression(#"model  ==  "gw-200""#))
    #expect(try expression != PolicyExpression(#"model == "gw-200""#))
  }
}
