import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

@main
struct Airlift: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "airlift",
    abstract: "Over-the-air updates for fleets of Linux devices.",
    subcommands: [
      Serve.self, Status.self, Keys.self, Repo.self, Release.self, Tag.self, Device.self, Group.self, Deploy.self,
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
      throw CommandFailure(error)
    } catch {
      await client.shutdown()
      throw error
    }
  }
}

/// A failed command: its message on standard error, in one line, and an exit
/// code of its own (not the usage text and 64, which mean the command line
/// itself was wrong). 1: the controller refused the request; 3: the
/// controller could not be reached; 4: it answered something unexpected; 5:
/// a local file could not be read.
struct CommandFailure: Error, CustomStringConvertible {
  let message: String
  let exitCode: Int32

  init(message: String, exitCode: Int32) {
    self.message = message
    self.exitCode = exitCode
  }

  init(_ error: ClientError) {
    message = error.description
    switch error {
    case .refused: exitCode = 1
    case .unreachable: exitCode = 3
    case .unexpectedResponse: exitCode = 4
    case .file: exitCode = 5
    }
  }

  var description: String { message }
}

extension Airlift {
  /// Runs the command; a `CommandFailure` prints its message and exits with its code.
  static func main() async {
    // Each line reaches a pipe as it is printed (`airlift deploy watch | tee log` in a CI job).
    StandardOutput.lineBuffered()
    do {
      var command = try parseAsRoot()
      // For the documentation's tests: the command line parses (and validates), nothing runs.
      if ProcessInfo.processInfo.environment["AIRLIFT_PARSE_ONLY"] != nil {
        print("parsed: \(type(of: command)._commandName)")
        return
      }
      if var command = command as? any AsyncParsableCommand {
        try await command.run()
      } else {
        try command.run()
      }
    } catch let failure as CommandFailure {
      fail(failure)
    } catch let error as ClientError {
      fail(CommandFailure(error))
    } catch {
      exit(withError: error)
    }
  }

  private static func fail(_ failure: CommandFailure) -> Never {
    FileHandle.standardError.write(Data("airlift: \(failure.message)\n".utf8))
    Foundation.exit(failure.exitCode)
  }
}
