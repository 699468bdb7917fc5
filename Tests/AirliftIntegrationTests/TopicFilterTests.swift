import AirliftMQTT
import Testing

@Suite("MQTT topic filters")
struct TopicFilterTests {
  @Test(
    "filters match as MQTT defines",
    arguments: [
      ("a/+/c", "a/b/c", true), ("a/+/c", "a/b/d", false), ("a/#", "a", true), ("a/#", "a/b/c", true),
      ("#", "a/b", true), ("#", "$SYS/x", false), ("+/b", "$SYS/b", false), ("a/b", "a/b/c", false),
      ("$share/g/a/+", "a/x", true), ("a/+", "a", false),
    ])
  func filters(filter: String, topic: String, expected: Bool) {
    #expect(TopicFilter.matches(filter, topic: topic) == expected)
  }
}
