import AirliftCore
import Foundation

extension ReleaseSigningKey {
  /// Signs `manifest`'s canonical bytes.
  public func sign(_ manifest: ReleaseManifest) throws(SigningKeyError) -> SignedManifest {
    let signature = try sign(manifest.canonicalBytes)
    return SignedManifest(
      manifest: manifest,
      signature: ManifestSignature(key: try publicKey.id, value: Data(signature).base64EncodedString()))
  }
}

/// The release-signing keys a device trusts; several at once while a key is rotated.
public struct ReleaseTrust: Sendable {
  public let keys: [ReleaseVerifyingKey]

  public init(keys: [ReleaseVerifyingKey]) { self.keys = keys }

  /// Reads each PEM public key file; the first that cannot be read is the error.
  public init(files: [String]) throws(SigningKeyError) {
    var keys: [ReleaseVerifyingKey] = []
    for file in files { keys.append(try ReleaseVerifyingKey(contentsOf: file)) }
    self.keys = keys
  }

  /// Throws unless a trusted key made `signed`'s signature over its manifest.
  public func verify(_ signed: SignedManifest) throws(ReleaseRefusal) {
    guard !keys.isEmpty else { throw .noTrustedKeys }
    guard let key = keys.first(where: { $0.id == signed.signature.key }) else {
      throw .untrustedKey(signed.signature.key)
    }
    guard let signature = Data(base64Encoded: signed.signature.value),
      key.verifies(Array(signature), over: signed.manifest.canonicalBytes)
    else { throw .badSignature(key: key.id) }
  }
}
