import AirliftCore
import ArgumentParser

extension Release {
  /// `airlift release estimate PKG@FROM PKG@TO`: a delta's cost before any device pays it.
  struct Estimate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print what a device on one version would fetch to update to another (delta updates), per asset.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The version the device runs, as PACKAGE@VERSION.") var from: String
    @Argument(help: "The version to update to, as PACKAGE@VERSION.") var to: String

    func run() async throws {
      let (package, fromVersion) = try ReleaseName.parse(from)
      let (toPackage, toVersion) = try ReleaseName.parse(to)
      guard package == toPackage else {
        throw ValidationError("both versions must be of one package (got \(package) and \(toPackage))")
      }
      let estimate = try await connection.withClient {
        try await $0.estimateDelta(package: package, from: fromVersion, to: toVersion)
      }
      print(connection.json ? Output.json(estimate) : Self.render(estimate))
    }

    static func render(_ estimate: DeltaEstimate) -> String {
      let rows = estimate.assets.map {
        [
          $0.name, Output.bytes($0.size), Output.bytes($0.fetched), Output.bytes($0.reused), "\($0.requests)",
          $0.whole.map { "whole: \($0)" } ?? "delta",
        ]
      }
      return "\(estimate.from) → \(estimate.to): \(estimate.transfer.summary) in \(estimate.requests) requests\n"
        + Output.table(["ASSET", "SIZE", "FETCHED", "REUSED", "REQUESTS", "HOW"], rows)
    }
  }
}
