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
  static func make(
    in folder: String, name: String = "bundle.tar.gz", install: String = recordingInstall,
    scripts: [String: String] = [:], payloadBytes: Int = 0
  ) throws -> String {
    let source = "\(folder)/bundle-src-\(UUID().uuidString.prefix(6))"
    try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
    for (script, body) in scripts.merging(["install": install], uniquingKeysWith: { $1 }) {
      try body.write(toFile: "\(source)/\(script)", atomically: true, encoding: .utf8)
      try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(source)/\(script)")
    }
    try "payload of \(name)\n".write(toFile: "\(source)/README", atomically: true, encoding: .utf8)
    if payloadBytes > 0 {
      var generator = SystemRandomNumberGenerator()
      let bytes = (0..<payloadBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
      try Data(bytes).write(to: URL(fileURLWithPath: "\(source)/payload.bin"))
    }
    let output = "\(folder)/\(name)"
    try Fleet.run("/usr/bin/env", ["tar", "-czf", output, "-C", source, "."])
    return output
  }
}
