import AirliftController
import AirliftLogging
import ArgumentParser
import Foundation
import Logging

struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the controller: MQTT session, store (SQLite or PostgreSQL), HTTPS API and artifacts.")

  @Option(help: "JSON config file (keys as in ControllerConfig); flags override it.")
  var config: String?

  @Option(help: "Address to listen on.") var host: String?
  @Option(help: "HTTPS port.") var port: Int?
  @Option(help: "Data folder (blobs, and the SQLite store unless --store names another).") var data: String?
  @Option(help: "Database: sqlite:PATH (default DATA/controller.sqlite) or postgres://USER@HOST:PORT/DB.")
  var store: String?
  @Option(help: "Certificate folder (ca.crt, controller.*, controller-client.*).") var certs: String?
  @Option(help: "Broker URL, e.g. mqtts://127.0.0.1:8883.") var broker: String?
  @Option(help: "Base URL devices use to download artifacts.") var publicURL: String?
  @Option(help: "MQTT identity CERTS/controllers/NAME.crt (Certs/new-controller NAME); one per controller.")
  var mqttIdentity: String?
  @Option(help: "HTTPS connections one client address may hold at once (default 1000).")
  var maxConnectionsPerAddress: Int?
  @Option(help: "MQTT messages one device may send per second, sustained (default 20; 0: no limit).")
  var deviceRateLimit: Double?
  @OptionGroup var logging: LoggingOptions

  func run() async throws {
    var settings: ControllerConfig
    if let config {
      guard let data = FileManager.default.contents(atPath: config) else {
        throw ValidationError("cannot read the config file \(config)")
      }
      do {
        settings = try JSONDecoder().decode(ControllerConfig.self, from: data)
      } catch {
        throw ValidationError("config file \(config) is not a valid controller config: \(error)")
      }
    } else {
      guard let data else { throw ValidationError("give --data DIR (or --config FILE)") }
      settings = ControllerConfig(dataDirectory: data)
    }
    if let host { settings.host = host }
    if let port { settings.port = port }
    if let data { settings.dataDirectory = data }
    if let store { settings.store = store }
    if let certs { settings.certificates = certs }
    if let broker { settings.brokerURL = broker }
    if let publicURL { settings.publicURL = publicURL }
    if let mqttIdentity { settings.mqttIdentity = mqttIdentity }
    if let deviceRateLimit {
      guard deviceRateLimit.isFinite, (0...1_000_000).contains(deviceRateLimit) else {
        throw ValidationError("--device-rate-limit is \(deviceRateLimit), out of range: give 0 to 1000000")
      }
      settings.deviceRate.messagesPerSecond = deviceRateLimit
    }
    if let maxConnectionsPerAddress {
      guard (1...1_000_000).contains(maxConnectionsPerAddress) else {
        throw ValidationError(
          "--max-connections-per-address is \(maxConnectionsPerAddress), out of range: give 1 to 1000000")
      }
      settings.maxConnectionsPerAddress = maxConnectionsPerAddress
      settings.maxConnections = max(settings.maxConnections, maxConnectionsPerAddress)
    }
    for file in [settings.caFile, settings.serverCertificateFile, settings.mqttCertificateFile]
    where !FileManager.default.fileExists(atPath: file) {
      throw ValidationError("missing certificate \(file); create them with Certs/init (and Certs/new-controller NAME)")
    }
    logging.bootstrap()
    let controller = try Controller(config: settings)
    try await controller.run(signals: [.sigterm, .sigint])
  }
}
