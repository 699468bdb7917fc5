/// What a download does with the server's answer to a request that may
/// have asked to resume (`Range: bytes=OFFSET-`): pure, so each case is
/// tested without a server.
public enum ResumeAnswer: Sendable, Equatable {
  /// Append the body to the bytes on disk (a 206 from exactly the offset asked for).
  case append
  /// Start over with this body (a 200, or a 206 from byte 0): drop what is on disk.
  case replace
  /// Drop what is on disk and try again from zero: the answer cannot be lined up with it.
  case retryFromZero(String)
  /// Not a usable answer; `retryable` when trying again may help (5xx, 408, 429).
  case refuse(String, retryable: Bool)

  /// Decides from the status code, the `Content-Range` header and the offset asked for (0: no Range sent).
  public static func decide(status: Int, contentRange: String?, offset: Int64) -> ResumeAnswer {
    switch status {
    case 200:
      return .replace
    case 206:
      let start = contentRange.flatMap(rangeStart)
      if offset > 0 && start == offset { return .append }
      if start == 0 { return .replace }
      return .retryFromZero(
        "the server answered 206 for bytes from \(start.map(String.init) ?? "an unknown offset"), not from \(offset); starting over from zero"
      )
    default:
      return .refuse("HTTP \(status)", retryable: status >= 500 || status == 408 || status == 429)
    }
  }

  /// The first byte of `bytes START-END/TOTAL`.
  public static func rangeStart(_ header: String) -> Int64? {
    let value = header.trimmingCharacters(in: .whitespaces)
    guard value.lowercased().hasPrefix("bytes ") else { return nil }
    return value.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false).first.flatMap {
      Int64($0.trimmingCharacters(in: .whitespaces))
    }
  }
}
