import AirliftCore
import ArgumentParser
import Foundation
import Logging

@main
struct SimCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "airlift-sim", abstract: "Simulated devices for load tests and benchmarks.",
    subcommands: [Run.self, Certs.self, Flood.self, Republish.self])

  struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Issue the simulated devices' certificates ahead of a run (in-process, with CERTS/ca.key).")
    @Option(help: "How many devices.") var devices: Int = 100
    @Option(help: "Device id prefix; ids are PREFIX-00001 …") var prefix = "sim"
    @Option(help: "PKI folder with ca.crt, ca.key and devices/.") var certs: String

    func run() async throws {
      let ids = try SimCommand.deviceIDs(devices, prefix: prefix)
      let started = ContinuousClock.now
      let issued = try await DeviceCertificates.ensure(ids, certs: certs)
      let seconds = SimCommand.seconds(since: started)
      SimCommand.say(
        "issued \(issued) device certificates in \(String(format: "%.1f", seconds)) s "
          + "(\(devices - issued) already in \(certs)/devices)")
    }
  }
}

extension SimCommand {
  /// Errors at `.error` only: thousands of clients must not flood the terminal.
  static func quietLogging() -> Logger {
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = .error
      return handler
    }
    return Logger(label: "airlift.sim")
  }

  /// `PREFIX-00001` … `PREFIX-N`.
  static func deviceIDs(_ count: Int, prefix: String) throws -> [DeviceID] {
    try (1...max(1, count)).map { try DeviceID(String(format: "%@-%05d", prefix, $0)) }
  }

  /// Writes a line to standard output at once (`print` buffers when the
  /// output is a file, and a benchmark's log should show progress live).
  static func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
  }

  /// Seconds since `start`, with a fraction.
  static func seconds(since start: ContinuousClock.Instant) -> Double {
    Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
  }
}
