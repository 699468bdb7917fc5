/// The device state graph, written once: what the agent's update machine
/// can do, read off `UpdateMachine.next` itself, so the agent, the
/// controller and the docs cannot disagree about which move is legal.
extension DeviceState {
  /// One move between two reported states.
  public struct Move: Hashable, Sendable, CustomStringConvertible {
    public let from: DeviceState
    public let to: DeviceState

    public init(from: DeviceState, to: DeviceState) {
      self.from = from
      self.to = to
    }

    public var description: String { "\(from.rawValue) → \(to.rawValue)" }
  }

  /// Every move between two different states a device reports: each step of
  /// the update machine from every phase, on every event, at the edges of its
  /// counters (first and last attempt, first boot and a boot loop); and the
  /// operator's rollback of a successful update (`airlift device rollback`),
  /// a command rather than a step of the machine.
  public static let moves: Set<Move> = {
    var moves: Set<Move> = [Move(from: .successful, to: .rolledBack)]
    let limits = UpdateLimits()
    for phase in UpdatePhase.allCases {
      for attempt in [1, limits.maxAttempts] {
        for boots in [0, limits.maxBoots] {
          let progress = UpdateProgress(phase: phase, attempt: attempt, boots: boots, error: "earlier failure")
          for event in UpdateEvent.shapes {
            guard let step = UpdateMachine.next(progress, on: event, limits: limits) else { continue }
            let move = Move(from: phase.reported, to: step.progress.phase.reported)
            if move.from != move.to { moves.insert(move) }
          }
        }
      }
    }
    return moves
  }()

  /// Whether a device's report moves the controller's view of that device in
  /// one deployment, from `current` (set by the report numbered `currentSeq`)
  /// to `next` (numbered `seq`; reports sent by hand through the API carry none).
  ///
  /// The agent's machine made every move it reports, so a numbered report
  /// newer than the one that set the state is taken as it is, even when
  /// reports in between were lost (they arrive later, over HTTPS, as
  /// history) — the view never sticks at `Pending` while the device installs.
  /// An older one is history only. A finished update is reopened only along
  /// the graph (`Successful` or `Failed` → `RolledBack`). An unnumbered report
  /// must be a move of the graph, or end the update.
  public static func reportMoves(from current: DeviceState, currentSeq: Int64?, to next: DeviceState, seq: Int64?)
    -> Bool
  {
    if let seq, let currentSeq, seq <= currentSeq { return false }
    if current.isTerminal { return current.canMove(to: next) }
    if seq != nil { return true }
    return current.canMove(to: next) || next.isTerminal
  }
}

extension UpdateEvent {
  /// One event of each shape (every case, every flag it carries): what the
  /// state graph is derived from.
  static let shapes: [UpdateEvent] = [
    .begin(alreadyInstalled: false), .begin(alreadyInstalled: true), .downloadPermitted, .downloadSucceeded,
    .downloadFailed(reason: "", retryable: false), .downloadFailed(reason: "", retryable: true), .retryDue,
    .installPermitted, .installSucceeded(needsReboot: false), .installSucceeded(needsReboot: true),
    .installFailed(reason: ""), .verifySucceeded, .verifyFailed(reason: ""), .committed,
    .rollbackFinished(undone: false, needsReboot: false), .rollbackFinished(undone: false, needsReboot: true),
    .rollbackFinished(undone: true, needsReboot: false),
    .rollbackFinished(undone: true, needsReboot: true), .rollbackFailed(reason: ""), .agentStarted,
    .abandoned(reason: ""), .refused(reason: ""),
  ]

  /// A new case stops this switch from compiling: add it to `shapes` too, or the graph misses its moves.
  private var isInShapes: Bool {
    switch self {
    case .begin, .downloadPermitted, .downloadSucceeded, .downloadFailed, .retryDue, .installPermitted,
      .installSucceeded, .installFailed, .verifySucceeded, .verifyFailed, .committed, .rollbackFinished,
      .rollbackFailed, .agentStarted, .abandoned, .refused:
      return true
    }
  }
}
