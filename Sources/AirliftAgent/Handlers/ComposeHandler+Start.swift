import AirliftCore
import Foundation

/// Starting the installed apps again (`airlift-agent start`, fioup's `start`): after a boot whose engine did not
/// bring them back, or an operator's `compose down`. Each app's current version starts with the deployment
/// parameters it was installed with, kept beside it, so nothing about it changes.
extension ComposeHandler {
  /// One app's outcome.
  public struct StartedApp: Codable, Sendable, Equatable {
    public var app: String
    public var version: String
    /// Why it did not start; nil when it did.
    public var error: String?
  }

  /// `compose up -d` for every installed app's current version, in name order; one that fails does not stop
  /// the others.
  public func startApps(installDirectory: String) async -> [StartedApp] {
    let layout = Layout(installDirectory)
    var started: [StartedApp] = []
    for (app, version) in layout.installedApps().sorted(by: { $0.key < $1.key }) {
      do {
        try await engine.compose(
          project: app, directory: layout.folder(app, version), ["up", "-d"],
          parameters: layout.parameters(app, version))
        started.append(StartedApp(app: app, version: version))
      } catch {
        started.append(StartedApp(app: app, version: version, error: "\(error)"))
      }
    }
    return started
  }
}

extension ComposeHandler.Layout {
  func parametersFile(_ app: String, _ version: String) -> String {
    "\(folder(app, version))/.airlift-parameters.json"
  }

  /// The deployment parameters `version` of `app` was started with (none when it was installed before they
  /// were kept).
  func parameters(_ app: String, _ version: String) -> [String: String] {
    guard let data = FileManager.default.contents(atPath: parametersFile(app, version)),
      let parameters = try? JSONDecoder().decode([String: String].self, from: data)
    else { return [:] }
    return parameters
  }

  func keepParameters(_ parameters: [String: String], app: String, version: String) throws {
    try JSONEncoder().encode(parameters).write(
      to: URL(fileURLWithPath: parametersFile(app, version)), options: .atomic)
  }
}
