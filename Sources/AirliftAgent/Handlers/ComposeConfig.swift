/// The agent config's `compose` key: which apps the device runs and how
/// the `compose` handler reaches the container engine.
public struct ComposeConfig: Codable, Sendable, Equatable {
  /// The apps this device runs (`["web", "metrics"]`); nil runs every app
  /// of a release. An app left out is stopped and not started again.
  public var apps: [String]?
  /// How to call Compose, as an argument list (default: `docker compose` when
  /// the plugin answers, else `docker-compose`).
  public var command: [String]?
  /// The docker CLI (default `docker`).
  public var docker: String?
  /// The engine's socket, as DOCKER_HOST (`unix:///var/run/docker.sock`; nil: the CLI's default).
  public var dockerHost: String?
  /// Seconds the started apps have to run, and be healthy where they
  /// define a health check (default 60).
  public var verifyTimeout: Double?

  public init(
    apps: [String]? = nil, command: [String]? = nil, docker: String? = nil, dockerHost: String? = nil,
    verifyTimeout: Double? = nil
  ) {
    self.apps = apps
    self.command = command
    self.docker = docker
    self.dockerHost = dockerHost
    self.verifyTimeout = verifyTimeout
  }
}
