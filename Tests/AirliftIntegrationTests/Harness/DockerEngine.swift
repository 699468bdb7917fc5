import Foundation

/// A private Docker engine for one test: Debian's dockerd with its own
/// socket, data and exec roots under a short /tmp folder (socket paths are
/// limited to 108 bytes), the vfs storage driver, no bridge and no iptables
/// rules, so tests never touch the host's networking or another engine.
final class DockerEngine: @unchecked Sendable {
  let root: String
  var host: String { "unix://\(root)/docker.sock" }
  private let process: ChildProcess

  private init(root: String, process: ChildProcess) {
    self.root = root
    self.process = process
  }

  static func start() async throws -> DockerEngine {
    let root = "/tmp/dk-\(UUID().uuidString.prefix(8).lowercased())"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    let log = "\(root)/dockerd.log"
    // The test process ignores some signals; the engine must stop on SIGTERM.
    let process = try Fleet.startBackground(
      "/usr/bin/env",
      [
        "--default-signal=TERM,INT,HUP", "dockerd", "--host", "unix://\(root)/docker.sock", "--data-root",
        "\(root)/data", "--exec-root", "\(root)/exec", "--pidfile", "\(root)/docker.pid", "--storage-driver", "vfs",
        "--bridge", "none", "--iptables=false", "--ip-masq=false", "--log-level", "warn",
      ], log: log)
    let engine = DockerEngine(root: root, process: process)
    do {
      try await eventually("dockerd to answer on \(engine.host)", within: 60) {
        guard process.isRunning else {
          throw HarnessError.setup("dockerd exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return (try? engine.docker(["version", "--format", "{{.Server.Version}}"])) != nil
      }
    } catch {
      await engine.stop()
      throw error
    }
    return engine
  }

  /// Runs the docker CLI against this engine (no shell); returns its output, throws unless it succeeds.
  @discardableResult
  func docker(_ arguments: [String]) throws -> String {
    let (status, output) = try Fleet.execute("/usr/bin/env", ["DOCKER_HOST=\(host)", "docker"] + arguments)
    guard status == 0 else {
      throw HarnessError.setup("docker \(arguments.joined(separator: " ")) failed: \(output)")
    }
    return output.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Makes a tiny image from Debian's static busybox, with `/VERSION` saying `marker`, tagged `tag`;
  /// returns its id. Nothing is pulled: there is no registry on the internet here.
  @discardableResult
  func makeImage(_ tag: String, marker: String) throws -> String {
    let rootfs = "\(root)/rootfs-\(UUID().uuidString.prefix(6))"
    try FileManager.default.createDirectory(atPath: "\(rootfs)/bin", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: rootfs) }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.fileExists(atPath: $0) }
    guard let busybox else { throw HarnessError.setup("busybox-static is not installed (scripts/setup --docker)") }
    try FileManager.default.copyItem(atPath: busybox, toPath: "\(rootfs)/bin/busybox")
    for applet in ["sh", "sleep", "cat", "echo", "test", "date", "ls"] {
      try FileManager.default.createSymbolicLink(atPath: "\(rootfs)/bin/\(applet)", withDestinationPath: "busybox")
    }
    try "\(marker)\n".write(toFile: "\(rootfs)/VERSION", atomically: true, encoding: .utf8)
    let tar = "\(rootfs).tar"
    defer { try? FileManager.default.removeItem(atPath: tar) }
    try Fleet.run("/usr/bin/env", ["tar", "-cf", tar, "-C", rootfs, "."])
    return try docker(["import", "--change", #"CMD ["/bin/sh"]"#, tar, tag])
  }

  /// `docker save` of `tags` into `archive`.
  func save(_ tags: [String], to archive: String) throws {
    try docker(["save", "--output", archive] + tags)
  }

  /// Image ids the engine loaded since `since` (a Unix time), from its event log.
  func loadedImages(since: Int) throws -> [String] {
    let output = try docker([
      "events", "--since", "\(since)", "--until", "\(Int(Date().timeIntervalSince1970) + 1)", "--filter", "type=image",
      "--filter", "event=load", "--format", "{{.Actor.ID}}",
    ])
    return output.split(whereSeparator: \.isNewline).map(String.init)
  }

  func stop() async {
    if process.isRunning {
      kill(process.processIdentifier, SIGTERM)
      if (try? await eventually("dockerd to stop", within: 30) { !self.process.isRunning }) == nil {
        kill(process.processIdentifier, SIGKILL)
      }
    }
    process.waitUntilExit()
    try? FileManager.default.removeItem(atPath: root)
  }
}

/// Debian's docker-registry (Distribution 2.8) on a loopback port, storing
/// into the test's folder: images pinned by digest are pulled from it.
final class LocalRegistry: @unchecked Sendable {
  let port: Int
  private let process: ChildProcess

  private init(port: Int, process: ChildProcess) {
    self.port = port
    self.process = process
  }

  static func start(in folder: String) async throws -> LocalRegistry {
    let port = try Loopback.freePort()
    let config = "\(folder)/registry.yml"
    try """
    version: 0.1
    storage:
      filesystem:
        rootdirectory: \(folder)/registry
    http:
      addr: 127.0.0.1:\(port)

    """.write(toFile: config, atomically: true, encoding: .utf8)
    let process = try Fleet.startBackground(
      "/usr/bin/env", ["--default-signal=TERM,INT", "docker-registry", "serve", config], log: "\(folder)/registry.log")
    let registry = LocalRegistry(port: port, process: process)
    do {
      try await eventually("the registry on port \(port)", within: 30) { Loopback.isListening(port) }
    } catch {
      registry.stop()
      throw error
    }
    return registry
  }

  func stop() {
    if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    process.waitUntilExit()
  }
}
