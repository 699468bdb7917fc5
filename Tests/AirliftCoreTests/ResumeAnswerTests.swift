import AirliftCore
import Testing

@Suite("Resuming a download: what the server's answer means")
struct ResumeAnswerTests {
  @Test("a 206 from the offset asked for appends; a 200 or a 206 from 0 starts over; any other start retries from zero")
  func answers() {
    #expect(ResumeAnswer.decide(status: 206, contentRange: "bytes 1000-1999/2000", offset: 1000) == .append)
    #expect(ResumeAnswer.decide(status: 200, contentRange: nil, offset: 1000) == .replace)
    #expect(ResumeAnswer.decide(status: 206, contentRange: "bytes 0-1999/2000", offset: 1000) == .replace)
    #expect(ResumeAnswer.decide(status: 206, contentRange: "bytes 0-1999/2000", offset: 0) == .replace)
    guard
      case .retryFromZero(let reason) = ResumeAnswer.decide(
        status: 206, contentRange: "bytes 500-1999/2000", offset: 1000)
    else {
      Issue.record("a 206 from another offset must start over")
      return
    }
    #expect(reason.contains("from 500, not from 1000"))
    if case .retryFromZero = ResumeAnswer.decide(status: 206, contentRange: nil, offset: 1000) {
    } else {
      Issue.record("a 206 without Content-Range must start over")
    }
    #expect(ResumeAnswer.decide(status: 503, contentRange: nil, offset: 0) == .refuse("HTTP 503", retryable: true))
    #expect(ResumeAnswer.decide(status: 404, contentRange: nil, offset: 0) == .refuse("HTTP 404", retryable: false))
    #expect(ResumeAnswer.rangeStart("bytes 42-99/100") == 42)
    #expect(ResumeAnswer.rangeStart("items 42-99/100") == nil)
    #expect(ResumeAnswer.rangeStart("bytes -5-99/100") == nil)
  }
}
