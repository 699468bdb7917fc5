import AirliftCore
import ArgumentParser
import Foundation

struct Deploy: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create and follow deployments.", subcommands: [Create.self, Show.self, List.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deploy a release (PKG@VERSION) to devices.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The release, as PACKAGE@VERSION.") var release: String
    @Option(name: .customLong("device"), help: "A target device (repeat for several).") var devices: [String] = []
    @Flag(help: "Target every known device, and devices that check in later while it is active.")
    var all = false
    @Option(name: .customLong("param"), help: "A parameter for the install handler, KEY=VALUE (repeatable).")
    var parameters: [String] = []
    @Option(help: "A name to recognise the deployment by.") var name: String?

    func validate() throws {
      guard release.contains("@") else { throw ValidationError("give the release as PACKAGE@VERSION") }
      guard all || !devices.isEmpty else { throw ValidationError("give --device ID (repeatable) or --all") }
      for parameter in parameters where !parameter.contains("=") {
        throw ValidationError("parameter '\(parameter)' must be KEY=VALUE")
      }
    }

    func run() async throws {
      let parts = release.split(separator: "@", maxSplits: 1).map(String.init)
      var values: [String: String] = [:]
      for parameter in parameters {
        let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        values[pair[0]] = pair[1]
      }
      let request = API.CreateDeployment(
        package: parts[0], version: parts[1], target: .init(devices: devices.isEmpty ? nil : devices, allDevices: all),
        parameters: values, name: name)
      let deployment = try await connection.withClient { try await $0.createDeployment(request) }
      if connection.json { return print(Output.json(deployment)) }
      print("created deployment \(deployment.id): \(deployment.release) to \(deployment.devices.count) device(s)")
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a deployment with each device's state.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Deployment id.") var id: String
    @Flag(help: "Refresh until every device has finished; exit 1 if any failed.") var watch = false
    @Option(help: "With --watch: give up after this many seconds.") var timeout: Double = 600

    func run() async throws {
      let started = Date()
      let failed = try await connection.withClient { client -> Bool in
        var lastPrinted = ""
        while true {
          let deployment = try await client.deployment(id)
          let text = connection.json ? Output.json(deployment) : Show.render(deployment)
          if text != lastPrinted {
            print(text + (watch ? "\n" : ""))
            lastPrinted = text
          }
          let finished = deployment.devices.allSatisfy(\.state.isTerminal)
          if !watch || finished {
            return deployment.devices.contains { $0.state != .successful && $0.state.isTerminal }
          }
          guard Date().timeIntervalSince(started) < timeout else {
            throw ValidationError("deployment \(id) did not finish within \(Int(timeout)) s")
          }
          try await Task.sleep(for: .seconds(1))
        }
      }
      if watch && failed { throw ExitCode(1) }
    }

    static func render(_ deployment: API.Deployment) -> String {
      let counts = deployment.counts.sorted { $0.key.rawValue < $1.key.rawValue }
        .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
      let header = "deployment \(deployment.id)  \(deployment.release)  \(deployment.status.rawValue)  [\(counts)]"
      let rows = deployment.devices.map {
        [$0.device, $0.state.rawValue, $0.percent.map { "\($0)%" } ?? "-", $0.error ?? ""]
      }
      return header + "\n" + Output.table(["DEVICE", "STATE", "PROGRESS", "ERROR"], rows)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List deployments, newest first.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let deployments = try await connection.withClient { try await $0.deployments() }
      if connection.json { return print(Output.json(deployments)) }
      print(
        Output.table(
          ["ID", "RELEASE", "STATUS", "DEVICES", "CREATED"],
          deployments.map {
            [$0.id, $0.release.description, $0.status.rawValue, "\($0.devices.count)", Output.date($0.createdAt)]
          }))
    }
  }
}
