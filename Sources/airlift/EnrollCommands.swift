import AirliftClient
import AirliftCore
import ArgumentParser
import Foundation

/// Device enrollment: bootstrap tokens, and approving the requests they bring.
struct Enroll: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Enroll new devices (admins only): bootstrap tokens, pending requests, approve or reject.",
    discussion: """
      A device holding only a bootstrap token runs `airlift-agent enroll --token …`: it makes its own key and sends \
      a certificate signing request. With a token made for its id (--device) the certificate comes back at once; \
      otherwise the request waits here for `airlift enroll approve ID`.
      """,
    subcommands: [TokenCommand.self, List.self, Approve.self, Reject.self])

  struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Make a bootstrap token.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Pre-register this device id: its request is approved at once.") var device: String?
    @Option(parsing: .unconditional, help: "How many devices may use it.") var uses = 1
    @Option(help: "How long it is valid (1day, 12h).") var validFor = "1day"

    func run() async throws {
      let seconds: Int
      do { seconds = try Period(validFor).seconds } catch { throw ValidationError("--valid-for: \(error)") }
      let token = try await connection.withClient {
        try await $0.createEnrollmentToken(.init(device: device, uses: uses, validFor: seconds))
      }
      if connection.json { return print(Output.json(token)) }
      print(
        "bootstrap token for \(token.device ?? "any device (requests wait for approval)"), \(token.uses) use(s), "
          + "until \(Output.date(token.expiresAt)); shown once:")
      print(token.secret)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enrollment requests, newest first.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let list = try await connection.withClient { try await $0.enrollments() }
      if connection.json { return print(Output.json(list)) }
      print(
        Output.table(
          ["DEVICE", "STATUS", "REQUESTED", "DECIDED BY", "SERIAL", "KNOWN DEVICE"],
          list.map {
            [
              $0.device, $0.status.rawValue, Output.date($0.requestedAt), $0.decidedBy ?? "-", $0.serial ?? "",
              $0.knownDevice.map { known in
                "YES, \(known.online ? "ONLINE" : "offline"), \(known.certificates) cert(s): approve needs --replace"
              } ?? "",
            ]
          }))
    }
  }

  struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Issue the certificate a pending request asked for.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device id.") var device: String
    @Flag(
      help:
        "For a device the controller already knows: revoke the certificates it holds now and issue the new one."
    )
    var replace = false

    func run() async throws {
      let result = try await connection.withClient {
        try await $0.decideEnrollment(device, approve: true, replace: replace)
      }
      if connection.json { return print(Output.json(result)) }
      print("issued a certificate to \(result.device) (serial \(result.serial ?? "?"))")
    }
  }

  struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Refuse a pending request.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device id.") var device: String

    func run() async throws {
      let result = try await connection.withClient { try await $0.decideEnrollment(device, approve: false) }
      if connection.json { return print(Output.json(result)) }
      print("rejected the enrollment of \(result.device)")
    }
  }
}
