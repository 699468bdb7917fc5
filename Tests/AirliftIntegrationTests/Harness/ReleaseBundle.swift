import Foundation

/// Builds `script`-handler bundles (a tar.gz with an `install` script) for tests.
enum ReleaseBundle {
  /// An install script that records each run and writes the version and
  /// the `GREETING` parameter to `$AIRLIFT_INSTALL_DIR`.
  static let recordingInstall = """
    #!/bin/sh
    set -eu
    mkdir -p "$AIRLIFT_INSTALL_DIR"
    echo "$AIRLIFT_PACKAGE $AIRLIFT_VERSION" >> "$AIRLIFT_INSTALL_DIR/runs.log"
    printf '%s' "${AIRLIFT_PARAM_GREETING:-}" > "$AIRLIFT_INSTALL_DIR/greeting"
    printf '%s' "$AIRLIFT_VERSION" > "$AIRLIFT_INSTALL_DIR/version"
    """

  /// `scripts` are more executables by name (`verify`, `rollback`);
  /// `payloadBytes` of random (incompressible) data make a large bundle.
  /// The recording install, held until `gate` exists: a test lets the install end when it is ready for it,
  /// instead of guessing how long the install takes on a loaded machine.
  static func gatedInstall(_ gate: String) -> String {
    // Five minutes at most: a test that failed before opening the gate leaves no script spinning behind it.
    recordingInstall + "\nn=0\nwhile [ ! -e '\(gate)' ] && [ $n -lt 6000 ]; do sleep 0.05; n=$((n+1)); done\n"
  }

  /// `payload` (or `payloadBytes` of fresh random data) goes in as `payload.bin`; `compressed: false` makes a
  /// plain tar with its entries in name order and fixed times, as a release meant for delta updates is built
  /// (gzip would spread one changed byte over the rest of the file).
  static func make(
    in folder: String, name: String = "bundle.tar.gz", install: String = recordingInstall,
    scripts: [String: String] = [:], payloadBytes: Int = 0, payload: [UInt8]? = nil, compressed: Bool = true
  ) throws -> String {
    let source = "\(folder)/bundle-src-\(UUID().uuidString.prefix(6))"
    try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
    for (script, body) in scripts.merging(["install": install], uniquingKeysWith: { $1 }) {
      try body.write(toFile: "\(source)/\(script)", atomically: true, encoding: .utf8)
      try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(source)/\(script)")
    }
    try "payload of \(name)\n".write(toFile: "\(source)/README", atomically: true, encoding: .utf8)
    if let payload {
      try Data(payload).write(to: URL(fileURLWithPath: "\(source)/payload.bin"))
    } else if payloadBytes > 0 {
      try Data(try randomBytes(payloadBytes)).write(to: URL(fileURLWithPath: "\(source)/payload.bin"))
    }
    let output = "\(folder)/\(name)"
    if compressed {
      try Fleet.run("/usr/bin/env", ["tar", "-czf", output, "-C", source, "."])
    } else {
      try Fleet.run(
        "/usr/bin/env",
        [
          "tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", output, "-C", source,
          ".",
        ])
    }
    return output
  }
}

/// `count` random bytes in one read of /dev/urandom: a byte-at-a-time generator costs a system call per
/// byte in a debug build, and holds one of the cooperative pool's two threads while it runs.
func randomBytes(_ count: Int) throws -> [UInt8] {
  guard let source = FileHandle(forReadingAtPath: "/dev/urandom") else {
    throw HarnessError.setup("cannot open /dev/urandom")
  }
  defer { try? source.close() }
  var bytes: [UInt8] = []
  while bytes.count < count {
    guard let chunk = try source.read(upToCount: count - bytes.count), !chunk.isEmpty else { break }
    bytes += chunk
  }
  return bytes
}
