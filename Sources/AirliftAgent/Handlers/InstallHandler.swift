import AirliftCore

/// What a handler gets to install one release.
public struct InstallContext: Sendable {
  public var deviceID: DeviceID
  public var notice: DeploymentNotice
  /// Verified artifact files by asset name.
  public var artifacts: [String: String]
  /// A fresh folder for this deployment's scratch files.
  public var workDirectory: String
  /// The configured install folder.
  public var installDirectory: String

  public init(
    deviceID: DeviceID, notice: DeploymentNotice, artifacts: [String: String], workDirectory: String,
    installDirectory: String
  ) {
    self.deviceID = deviceID
    self.notice = notice
    self.artifacts = artifacts
    self.workDirectory = workDirectory
    self.installDirectory = installDirectory
  }
}

/// An install method (`script`, later `directory`, `ab-slot` …). Adding one
/// registers it in `InstallHandlers`; the update flow does not change.
public protocol InstallHandler: Sendable {
  static var name: String { get }
  /// Installs, and checks the result where the handler can; throws on failure.
  func install(_ context: InstallContext) async throws
  /// Undoes a failed install; returns false when there was nothing to undo.
  func rollback(_ context: InstallContext) async throws -> Bool
}

/// The handlers this agent knows, chosen by the deployment's `handler` name.
public struct InstallHandlers: Sendable {
  private let handlers: [String: any InstallHandler]

  public init(_ handlers: [any InstallHandler]) {
    self.handlers = Dictionary(uniqueKeysWithValues: handlers.map { (type(of: $0).name, $0) })
  }

  public static let standard = InstallHandlers([ScriptHandler(), DirectoryHandler()])

  public func handler(named name: String) throws(AgentError) -> any InstallHandler {
    guard let handler = handlers[name] else { throw .unknownHandler(name) }
    return handler
  }
}
