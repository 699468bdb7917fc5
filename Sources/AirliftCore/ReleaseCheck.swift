import Foundation

/// Why a device refuses a release before it downloads or installs anything.
public enum ReleaseRefusal: Error, Equatable, Sendable, CustomStringConvertible {
  case unsigned
  case noTrustedKeys
  case untrustedKey(String)
  case badSignature(key: String)
  case malformedManifest(String)
  case wrongRelease(signed: ReleaseRef, offered: ReleaseRef)
  case wrongHandler(signed: String, offered: String)
  case assetNotSigned(String)
  case assetDiffers(String, reason: String)
  case assetMissing(String)
  case expired(String)
  case downgrade(installed: String, offered: String, signedDowngrade: Bool)
  case incompatible(releaseFor: [String], device: String?)

  public var description: String {
    switch self {
    case .unsigned:
      return "refused: the release is not signed (sign it with `airlift release sign`)"
    case .noTrustedKeys:
      return "refused: the agent trusts no release-signing key (set trustedKeys in its config)"
    case .untrustedKey(let key):
      return "refused: signed with key \(key), which this device does not trust"
    case .badSignature(let key):
      return "refused: the signature by key \(key) does not match the manifest (tampered or corrupted)"
    case .malformedManifest(let reason):
      return "refused: malformed manifest: \(reason)"
    case .wrongRelease(let signed, let offered):
      return "refused: the manifest is signed for \(signed), but \(offered) was offered"
    case .wrongHandler(let signed, let offered):
      return "refused: the manifest names handler '\(signed)', but the deployment asks for '\(offered)'"
    case .assetNotSigned(let name):
      return "refused: asset '\(name)' is not listed in the signed manifest"
    case .assetDiffers(let name, let reason):
      return "refused: asset '\(name)' differs from the signed manifest (\(reason))"
    case .assetMissing(let name):
      return "refused: the signed manifest lists asset '\(name)', which the deployment does not carry"
    case .expired(let when):
      return "refused: the signed manifest expired at \(when) (re-sign the release to extend it)"
    case .incompatible(let names, let device):
      let list = names.sorted().joined(separator: ", ")
      return device.map {
        "refused before downloading: the release is for \(list) (signed), this device is \($0) (agent config compatible)"
      }
        ?? "refused before downloading: the release is for \(list) (signed), and this device names no hardware "
        + "(set compatible in its agent config)"
    case .downgrade(let installed, let offered, let signedDowngrade):
      return signedDowngrade
        ? "refused: \(offered) is older than the installed \(installed) and the deployment is not a downgrade"
        : "refused: \(offered) is older than the installed \(installed); a downgrade needs a manifest signed with "
          + "--allow-downgrade and a deployment created with --downgrade"
    }
  }
}

/// The checks on a deployment notice that need no cryptography: the signed
/// manifest must describe exactly what the notice asks to install, must not
/// have expired, and must not take the package back to an older version
/// unless both the manifest and the deployment say so.
public enum ReleaseCheck {
  /// Throws the first reason to refuse `notice` on a device that runs `installed` of its package, at `now`, and
  /// is the hardware `compatible` names. The signature itself is checked by the caller, before this.
  public static func check(_ notice: DeploymentNotice, installed: String?, now: Date, compatible: String? = nil)
    throws(ReleaseRefusal)
  {
    guard let signed = notice.manifest else { throw .unsigned }
    let manifest = signed.manifest
    try manifest.validate()
    let signedRef = ReleaseRef(package: manifest.package, version: manifest.version)
    guard signedRef == notice.release else { throw .wrongRelease(signed: signedRef, offered: notice.release) }
    guard manifest.handler == notice.handler else {
      throw .wrongHandler(signed: manifest.handler, offered: notice.handler)
    }
    let listed = Dictionary(manifest.assets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    for artifact in notice.artifacts {
      guard let asset = listed[artifact.name] else { throw .assetNotSigned(artifact.name) }
      guard asset.sha256 == artifact.sha256 else {
        throw .assetDiffers(artifact.name, reason: "SHA-256 \(artifact.sha256), signed \(asset.sha256)")
      }
      guard asset.size == artifact.size else {
        throw .assetDiffers(artifact.name, reason: "\(artifact.size) bytes, signed \(asset.size)")
      }
    }
    let offered = Set(notice.artifacts.map(\.name))
    if let missing = manifest.assets.map(\.name).sorted().first(where: { !offered.contains($0) }) {
      throw .assetMissing(missing)
    }
    if let names = manifest.compatible, !names.isEmpty, !names.contains(where: { $0 == compatible }) {
      throw .incompatible(releaseFor: names, device: compatible)
    }
    if let expiry = manifest.expiryDate, expiry <= now { throw .expired(manifest.expires) }
    if let installed, let current = try? SemanticVersion(installed), let new = try? SemanticVersion(manifest.version),
      new < current, !(manifest.downgrade && notice.downgrade == true)
    {
      throw .downgrade(installed: installed, offered: manifest.version, signedDowngrade: manifest.downgrade)
    }
  }
}
