import AirliftCore
import Testing

@Suite("Byte counts for people")
struct ByteCountTests {
  @Test("bytes below 1 KiB stay exact; larger counts get one decimal in the largest binary unit")
  func units() {
    #expect(ByteCount.text(0) == "0 B")
    #expect(ByteCount.text(1023) == "1023 B")
    #expect(ByteCount.text(1024) == "1.0 KiB")
    #expect(ByteCount.text(1536 * 1024) == "1.5 MiB")
    #expect(ByteCount.text(5 << 40) == "5.0 TiB")
    #expect(ByteCount.text(3 << 50) == "3072.0 TiB")
  }
}
