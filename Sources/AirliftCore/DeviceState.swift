/// Where one device stands in one deployment (DESIGN.md, "Device states").
public enum DeviceState: String, Codable, Sendable, CaseIterable {
  case pending = "Pending"
  case downloading = "Downloading"
  case downloaded = "Downloaded"
  case installing = "Installing"
  case rebooting = "Rebooting"
  case verifying = "Verifying"
  case successful = "Successful"
  case retrying = "Retrying"
  case failed = "Failed"
  case rolledBack = "RolledBack"

  /// A finished update: nothing more will happen for this deployment.
  public var isTerminal: Bool {
    switch self {
    case .successful, .failed, .rolledBack: return true
    case .pending, .downloading, .downloaded, .installing, .rebooting, .verifying, .retrying: return false
    }
  }

  /// Whether `next` may follow `self`. Repeating a state is allowed (progress
  /// events repeat `Downloading`).
  public func canMove(to next: DeviceState) -> Bool {
    if next == self { return !isTerminal || next == self }
    switch (self, next) {
    case (.pending, .downloading), (.pending, .failed), (.pending, .retrying), (.pending, .successful):
      return true
    case (.downloading, .downloaded), (.downloading, .retrying), (.downloading, .failed):
      return true
    case (.downloaded, .installing), (.downloaded, .failed):
      return true
    case (.installing, .rebooting), (.installing, .verifying), (.installing, .successful),
      (.installing, .failed):
      return true
    case (.rebooting, .verifying), (.rebooting, .failed):
      return true
    case (.verifying, .successful), (.verifying, .failed):
      return true
    case (.retrying, .downloading), (.retrying, .failed):
      return true
    case (.failed, .rolledBack):
      return true
    case (.successful, .rolledBack):
      // The operator rolled the device back to the version it had before.
      return true
    default:
      return false
    }
  }
}

/// Lifecycle of a deployment as a whole.
public enum DeploymentStatus: String, Codable, Sendable, CaseIterable {
  case scheduled = "Scheduled"
  case active = "Active"
  case paused = "Paused"
  case completed = "Completed"
  case aborted = "Aborted"
}
