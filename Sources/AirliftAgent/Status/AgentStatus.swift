import AirliftCore
import Foundation

/// What `airlift-agent status` reports: the device's state now, the update
/// it is on (or last ran), and the counters a person debugging a device
/// asks for first.
public struct AgentStatus: Codable, Sendable, Equatable {
  /// The update under way, or the last one when the agent is idle.
  public struct Update: Codable, Sendable, Equatable {
    public var deployment: String
    public var release: String
    public var state: String
    public var error: String?
    public var updatedAt: Date
  }

  /// The format's version, as in every wire message.
  public var v = Wire.version
  public var device: String
  public var agentVersion: String
  /// Whether the agent answered on its event socket.
  public var running: Bool
  /// Whether its MQTT session is up (only known while it runs).
  public var connected: Bool?
  /// `Idle`, or the state of the update under way.
  public var state: String
  public var update: Update?
  /// Package → installed version.
  public var installed: [String: String]
  public var lastCheckIn: Date?
  /// Status reports and messages not yet acknowledged by the broker.
  public var queueLength: Int
  /// Bytes downloaded over the agent's life (resumed transfers count what moved).
  public var bytesDownloaded: Int64
  public var lastError: String?
  public var lastErrorAt: Date?
}
