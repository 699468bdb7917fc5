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

  /// Whether `next` may follow `self`: a move in `DeviceState.moves` (the update machine's graph), or the same
  /// state again (progress repeats `Downloading`; a failed rollback reports `Failed` again, with more to say).
  public func canMove(to next: DeviceState) -> Bool {
    next == self || Self.moves.contains(Move(from: self, to: next))
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
