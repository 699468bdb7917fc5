import AirliftClient
import ArgumentParser
import Foundation

@main
struct Airlift: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "airlift",
    abstract: "Over-the-air updates for fleets of Linux devices.",
    subcommands: [
      Serve.self, Status.self, Keys.self, Release.self, Tag.self, Device.self, Group.self, Deploy.self,
      FlowCommand.self, Channel.self,
      Fleet.self, Token.self, Audit.self, Enroll.self, Store.self,
    ])
}

/// Where the controller is and which operator certificate to use.
struct ConnectionOptions: ParsableArguments {
  @Option(help: "Controller URL (or $AIRLIFT_CONTROLLER).")
  var controller: String = ProcessInfo.processInfo.environment["AIRLIFT_CONTROLLER"] ?? "https://127.0.0.1:8443"

  @Option(help: "Folder with ca.crt, operator.crt and operator.key (or $AIRLIFT_CERTS).")
  var certs: String = ProcessInfo.processInfo.environment["AIRLIFT_CERTS"] ?? "Certs/generated"

  @Option(help: "Operator certificate (default: CERTS/operator.crt; or $AIRLIFT_CERT).")
  var certificate: String? = ProcessInfo.processInfo.environment["AIRLIFT_CERT"]

  @Option(help: "Its private key (default: CERTS/operator.key; or $AIRLIFT_KEY).")
  var key: String? = ProcessInfo.processInfo.environment["AIRLIFT_KEY"]

  @Option(help: "An operator token instead of the certificate (or $AIRLIFT_TOKEN).")
  var token: String? = ProcessInfo.processInfo.environment["AIRLIFT_TOKEN"]

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  func client() throws -> ControllerClient {
    if let token { return try ControllerClient(baseURL: controller, caFile: "\(certs)/ca.crt", token: token) }
    return try ControllerClient(
      baseURL: controller, caFile: "\(certs)/ca.crt", certificate: certificate ?? "\(certs)/operator.crt",
      key: key ?? "\(certs)/operator.key")
  }

  /// Runs `body` with a client and turns its errors into a clean exit.
  func withClient<T>(_ body: (ControllerClient) async throws -> T) async throws -> T {
    let client = try client()
    do {
      let result = try await body(client)
      await client.shutdown()
      return result
    } catch let error as ClientError {
      await client.shutdown()
      throw ValidationError("\(error)")
    } catch {
      await client.shutdown()
      throw error
    }
  }
}
