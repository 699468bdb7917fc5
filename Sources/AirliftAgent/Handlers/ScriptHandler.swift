import AirliftCore
import Foundation

/// The `script` handler: the artifact is a tar bundle (gzip allowed) with an
/// `install` executable and optional `verify` and `rollback` executables.
/// Entries with absolute paths, `..` or links that leave the bundle are
/// refused before anything runs. Scripts run with the deployment's
/// parameters in their environment (as `AIRLIFT_PARAM_<NAME>`), never
/// through a shell string; a failing `install` or `verify` runs `rollback`.
public struct ScriptHandler: InstallHandler {
  public static let name = HandlerName.script

  public init() {}

  public func install(_ context: InstallContext) async throws {
    let bundle = try context.singleArtifact(for: Self.name)
    let unpacked = try await BundleArchive.unpack(
      bundle, into: bundleDirectory(context), reserve: context.reservedSpace)
    guard FileManager.default.fileExists(atPath: "\(unpacked)/install") else {
      throw AgentError.bundle(reason: "it has no 'install' script at its top level")
    }
    try await runScript("install", in: unpacked, context: context)
  }

  public func verify(_ context: InstallContext) async throws {
    let unpacked = bundleDirectory(context)
    if FileManager.default.fileExists(atPath: "\(unpacked)/verify") {
      try await runScript("verify", in: unpacked, context: context)
    }
  }

  public func rollback(_ context: InstallContext) async throws -> RollbackOutcome {
    let unpacked = bundleDirectory(context)
    guard FileManager.default.fileExists(atPath: "\(unpacked)/rollback") else { return .nothingToUndo }
    try await runScript("rollback", in: unpacked, context: context)
    return .undone
  }

  private func bundleDirectory(_ context: InstallContext) -> String { "\(context.workDirectory)/bundle" }

  private func runScript(_ name: String, in unpacked: String, context: InstallContext) async throws {
    let script = "\(unpacked)/\(name)"
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
    var environment: [String: String] = [
      "AIRLIFT_DEVICE_ID": context.deviceID.rawValue,
      "AIRLIFT_DEPLOYMENT": context.notice.deployment,
      "AIRLIFT_PACKAGE": context.notice.release.package,
      "AIRLIFT_VERSION": context.notice.release.version,
      "AIRLIFT_INSTALL_DIR": context.installDirectory,
      "AIRLIFT_BUNDLE_DIR": unpacked,
    ]
    for (name, value) in context.notice.parameters {
      try Names.validateParameter(name)
      environment["AIRLIFT_PARAM_\(name)"] = value
    }
    // No limit of its own: the deployment's install timeout bounds it (and ends its process group).
    let outcome = try await LocalCommand(role: "\(name) script", argv: [script]).run(
      environment: environment, workingDirectory: unpacked, timeout: nil)
    guard outcome.succeeded else {
      throw AgentError.scriptFailed(script: name, status: outcome.status, output: outcome.message)
    }
  }
}
