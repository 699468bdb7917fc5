import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A one-line progress bar on standard error, drawn only when it is a terminal.
enum ProgressBar {
  static var isTerminal: Bool { isatty(STDERR_FILENO) == 1 }

  /// A progress callback for an upload named `name`, or nil when not on a terminal.
  static func upload(_ name: String) -> (@Sendable (Int64, Int64) -> Void)? {
    guard isTerminal else { return nil }
    return { sent, total in
      draw(label: "uploading \(name)", done: Double(sent), total: Double(total), suffix: Output.bytes(sent))
    }
  }

  static func draw(label: String, done: Double, total: Double, suffix: String = "") {
    guard isTerminal else { return }
    let width = 30
    let fraction = total > 0 ? min(1, done / total) : 0
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(fraction * 100))% \(suffix)\u{1B}[K".utf8))
  }

  static func finish() {
    guard isTerminal else { return }
    FileHandle.standardError.write(Data("\n".utf8))
  }
}
