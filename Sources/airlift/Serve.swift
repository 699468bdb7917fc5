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
    for file in [settings.caFile, settings.serverCertificateFile, settings.mqttCertificateFile]
    where !FileManager.default.fileExists(atPath: file) {
      throw ValidationError("missing certificate \(file); create them with Certs/init")
    }
    logging.bootstrap()
    let controller = try Controller(config: settings)
    try await controller.run(signals: [.sigterm, .sigint])
  }
}
