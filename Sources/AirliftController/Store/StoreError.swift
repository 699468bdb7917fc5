import AirliftCore

/// Why a store operation was refused; each case has a stable code for the API.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
  case releaseExists(ReleaseRef)
  case releaseNotFound(ReleaseRef)
  case tagNotFound(package: String, tag: String)
  case tagLocked(package: String, tag: String, version: String)
  case blobNotFound(String)
  case deploymentNotFound(String)
  case groupNotFound(String)
  case groupExists(String)
  case noTargetDevices
  case devicesBusy([String: String])
  case invalidTransition(deployment: String, from: DeploymentStatus, action: String)
  case deviceNotFound(String)
  case packageNotInstalled(device: String, package: String, installed: [String: String])
  case commandNotFound(String)
  case fleetFrozen
  case dynamicGroup(String, expression: String)
  case approvalRefused(String)
  case releaseUnsigned(ReleaseRef)
  case releaseExpired(ReleaseRef, expires: String)
  case manifestMismatch(ReleaseRef, reason: String)
  case tokenExists(String)
  case tokenNotFound(String)
  case invalidTokenName(String)
  case flowNotFound(String, version: Int?)
  case metadataExists(ReleaseRef, name: String)
  case metadataNotFound(ReleaseRef, name: String)
  /// Devices a target names that have never checked in.
  case unknownDevices([String])
  /// A deployment asked to downgrade with a release whose signature does not allow it.
  case downgradeNotSigned(ReleaseRef)
  /// Devices of the target said they are other hardware than the release is for: device to its `compatible`.
  case incompatibleDevices(ReleaseRef, releaseFor: [String], devices: [String: String])
  /// A device or group would have more properties than allowed.
  case tooManyProperties(owner: String, count: Int)

  public var code: String {
    switch self {
    case .releaseExists: return "release_exists"
    case .releaseNotFound: return "release_not_found"
    case .tagNotFound: return "tag_not_found"
    case .tagLocked: return "tag_locked"
    case .blobNotFound: return "blob_not_found"
    case .deploymentNotFound: return "deployment_not_found"
    case .groupNotFound: return "group_not_found"
    case .groupExists: return "group_exists"
    case .noTargetDevices: return "no_target_devices"
    case .devicesBusy: return "devices_busy"
    case .invalidTransition: return "invalid_transition"
    case .deviceNotFound: return "device_not_found"
    case .packageNotInstalled: return "package_not_installed"
    case .commandNotFound: return "command_not_found"
    case .fleetFrozen: return "fleet_frozen"
    case .dynamicGroup: return "dynamic_group"
    case .approvalRefused: return "approval_refused"
    case .releaseUnsigned: return "release_unsigned"
    case .releaseExpired: return "release_expired"
    case .manifestMismatch: return "manifest_mismatch"
    case .tokenExists: return "token_exists"
    case .tokenNotFound: return "token_not_found"
    case .invalidTokenName: return "invalid_request"
    case .flowNotFound: return "flow_not_found"
    case .metadataExists: return "metadata_exists"
    case .metadataNotFound: return "metadata_not_found"
    case .unknownDevices: return "unknown_devices"
    case .downgradeNotSigned: return "downgrade_not_signed"
    case .incompatibleDevices: return "incompatible_devices"
    case .tooManyProperties: return "out_of_range"
    }
  }

  public var description: String {
    switch self {
    case .releaseExists(let ref):
      return "release \(ref) already exists; versions are immutable, publish a new version instead"
    case .releaseNotFound(let ref):
      return "release \(ref) not found; `airlift release list \(ref.package)` shows what exists"
    case .tagNotFound(let package, let tag):
      return "package \(package) has no tag '\(tag)'; `airlift tag list \(package)` shows its tags"
    case .tagLocked(let package, let tag, let version):
      return "tag '\(tag)' of \(package) is locked to \(version) and never moves; use a floating tag or a new name"
    case .blobNotFound(let digest):
      return "no uploaded blob with SHA-256 \(digest); upload the asset first"
    case .deploymentNotFound(let id):
      return "deployment '\(id)' not found; `airlift deploy list` shows them"
    case .groupNotFound(let name):
      return "group '\(name)' not found; `airlift group list` shows them"
    case .metadataExists(let ref, let name):
      return
        "\(ref) already has a different '\(name)' document; documents are immutable like versions, attach it under another name"
    case .metadataNotFound(let ref, let name):
      return "\(ref) has no metadata document '\(name)'; `airlift release show \(ref)` lists them"
    case .flowNotFound(let name, let version):
      return "flow '\(name)'\(version.map { " has no version \($0)" } ?? " not found"); `airlift flow list` shows them"
    case .groupExists(let name):
      return "group '\(name)' already exists"
    case .noTargetDevices:
      return "the deployment targets no device: name devices or a non-empty group, or target all devices"
    case .devicesBusy(let busy):
      let list = busy.sorted { $0.key < $1.key }.prefix(10).map { "\($0.key) (in \($0.value))" }
        .joined(separator: ", ")
      return
        "\(busy.count) device(s) are still in another deployment: \(list); wait for it, abort it, or create this one with --supersede (waiting devices move over, devices in progress finish first)"
    case .invalidTransition(let id, let from, let action):
      return "cannot \(action) deployment \(id): it is \(from.rawValue)"
    case .deviceNotFound(let id):
      return "device '\(id)' has never checked in; `airlift device list` shows the fleet"
    case .packageNotInstalled(let device, let package, let installed):
      let list =
        installed.isEmpty
        ? "nothing"
        : installed.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }
          .joined(separator: ", ")
      return "device '\(device)' does not report package '\(package)' as installed (it runs \(list))"
    case .commandNotFound(let id):
      return "command '\(id)' not found for this device"
    case .dynamicGroup(let name, let expression):
      return
        "group '\(name)' is dynamic (\(expression)): its members are the devices that match; change their attributes"
    case .fleetFrozen:
      return "the fleet is frozen: nothing starts until `airlift fleet thaw`"
    case .tokenExists(let name):
      return "a token named '\(name)' exists; revoke it first or pick another name"
    case .tokenNotFound(let name):
      return "no live token named '\(name)'; `airlift token list` shows them"
    case .invalidTokenName(let name):
      return "invalid token name '\(name)': use 1-64 letters, digits, '.', '_' or '-'"
    case .releaseUnsigned(let ref):
      return
        "release \(ref) is not signed, so devices would refuse it; sign it first: airlift release sign \(ref) --sign-key KEY"
    case .releaseExpired(let ref, let expires):
      return
        "the signature of \(ref) expired at \(expires), so devices would refuse it; sign it again: airlift release sign \(ref) --sign-key KEY"
    case .manifestMismatch(let ref, let reason):
      return "the signed manifest does not describe release \(ref): \(reason)"
    case .approvalRefused(let reason):
      return reason
    case .unknownDevices(let ids):
      let list = shortList(ids)
      return
        "\(ids.count) device(s) of the target have never checked in: \(list); `airlift device list` shows the fleet (for devices that check in later give allowUnknownDevices, --allow-unknown-devices, or target a group, a channel or all devices)"
    case .tooManyProperties(let owner, let count):
      return
        "\(owner) would have \(count) properties, out of range: at most \(DeviceConfig.maxProperties) (unset some first)"
    case .incompatibleDevices(let ref, let names, let devices):
      let sorted = devices.keys.sorted()
      let list =
        sorted.prefix(10).map { "\($0) (\(devices[$0]!))" }.joined(separator: ", ")
        + (sorted.count > 10 ? " and \(sorted.count - 10) more" : "")
      return
        "\(ref) is for \(names.sorted().joined(separator: ", ")) (compatible), and \(sorted.count) device(s) of the target said they are other hardware: \(list); target only devices it is for (a group, or --device)"
    case .downgradeNotSigned(let ref):
      return
        "\(ref) is not signed for a downgrade, so devices would refuse it: sign it with `airlift release sign \(ref) --sign-key KEY --allow-downgrade`, or deploy without --downgrade"
    }
  }
}

/// The first ten of `items`, then how many more: device lists in error messages stay readable.
func shortList(_ items: [String]) -> String {
  items.prefix(10).joined(separator: ", ") + (items.count > 10 ? " and \(items.count - 10) more" : "")
}
