import AirliftCore
import AirliftCrypto
import Foundation

/// Decides whether a deployment notice may be acted on at all: its manifest
/// must carry a signature by a trusted key, and describe exactly the release,
/// handler and assets offered; it must not have expired, nor take the package
/// to an older version unless both the manifest and the deployment allow it.
enum ReleaseVerifier {
  /// Throws the reason to refuse `notice` (a ``ReleaseRefusal`` or a key-file error).
  static func check(
    _ notice: DeploymentNotice, installed: String?, trustedKeys: [String], compatible: String? = nil,
    now: Date = Date()
  ) throws {
    guard let signed = notice.manifest else { throw ReleaseRefusal.unsigned }
    guard !trustedKeys.isEmpty else { throw ReleaseRefusal.noTrustedKeys }
    // The signature first: nothing else in an unauthenticated manifest means anything.
    try ReleaseTrust(files: trustedKeys).verify(signed)
    try ReleaseCheck.check(notice, installed: installed, now: now, compatible: compatible)
  }
}
