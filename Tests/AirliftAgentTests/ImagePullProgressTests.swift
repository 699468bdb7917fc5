import AirliftCore
import Testing

@testable import AirliftAgent

@Suite("The bytes of an image pull, from the engine's progress stream")
struct ImagePullProgressTests {
  @Test("counts only the layers that travel; Download complete fills a layer; the last status is kept")
  func countsTransferredLayers() throws {
    var pull = ImagePullProgress()
    let lines = [
      #"{"status":"Pulling from app/web","id":"sha256:1"}"#,
      #"{"status":"Already exists","progressDetail":{},"id":"aaa"}"#,
      #"{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}"#,
      #"{"status":"Pulling fs layer","progressDetail":{},"id":"ccc"}"#,
      #"{"status":"Downloading","progressDetail":{"current":100,"total":1000},"progress":"[>  ]","id":"bbb"}"#,
      #"{"status":"Downloading","progressDetail":{"current":50,"total":500},"id":"ccc"}"#,
      #"{"status":"Downloading","progressDetail":{"current":700,"total":1000},"id":"bbb"}"#,
    ]
    for line in lines { try pull.take(line: line) }
    #expect(pull.bytes == 750)
    #expect(pull.total == 1500)
    #expect(pull.reused == ["aaa"])
    // "Download complete" carries no numbers: the layer is whole.
    #expect(try pull.take(line: #"{"status":"Download complete","progressDetail":{},"id":"bbb"}"#))
    #expect(pull.bytes == 1050)
    // Extracting is not a transfer.
    #expect(try !pull.take(line: #"{"status":"Extracting","progressDetail":{"current":9999,"total":9999},"id":"ccc"}"#))
    try pull.take(line: #"{"status":"Download complete","progressDetail":{},"id":"ccc"}"#)
    try pull.take(line: #"{"status":"Status: Downloaded newer image for localhost:5000/app/web@sha256:1"}"#)
    #expect(pull.bytes == 1500 && pull.total == 1500)
    #expect(pull.lastStatus == "Status: Downloaded newer image for localhost:5000/app/web@sha256:1")
    #expect(try !pull.take(line: "  "))
  }

  @Test("an error in the stream, or a line that is not JSON, is the pull's failure, with the engine's words")
  func errorsThrow() {
    var pull = ImagePullProgress()
    #expect(throws: AirliftCoreError.imagePull(reason: "manifest unknown")) {
      try pull.take(line: #"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#)
    }
    #expect(throws: AirliftCoreError.self) { try pull.take(line: "<html>proxy error</html>") }
    #expect(
      AirliftCoreError.imagePull(reason: "manifest unknown").description
        == "the container engine's image pull failed: manifest unknown")
  }
}
