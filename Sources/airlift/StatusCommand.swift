import ArgumentParser

struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check that the controller answers and its MQTT session is up; exits 1 if not.")
  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    let healthy = try await connection.withClient { await $0.isHealthy() }
    print(healthy ? "ok: \(connection.controller) is ready" : "not ready: \(connection.controller)")
    if !healthy { throw ExitCode(1) }
  }
}
