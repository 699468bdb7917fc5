#if canImport(Glibc)
  @preconcurrency import Glibc
#endif

/// The process's standard output.
public enum StandardOutput {
  /// Line-buffers it, so a program reading through a pipe or a file gets
  /// each line as it is printed (`airlift deploy watch | tee`,
  /// `airlift-agent watch --json | my-watcher`), not when a buffer fills.
  public static func lineBuffered() {
    #if canImport(Glibc)
      setvbuf(stdout, nil, _IOLBF, 0)
    #endif
  }
}
