import AirliftCore
import Foundation

/// What came from the controller: the desired deployment or an operator command.
enum ControllerMessage: Sendable {
  case notice(DeploymentNotice)
  case command(DeviceCommand)
  case config(DeviceConfig)
}

/// The agent's one link to its controller, whatever carries it: a broker session (`MQTTLink`) or check-ins over
/// HTTPS (`HTTPSLink`). The services above it do not know which one they have.
protocol ControllerLink: Sendable {
  /// Notices and commands as they arrive: pushed by the broker, or in a check-in's answer.
  var messages: AsyncStream<ControllerMessage> { get }
  /// Yields each time the controller can be reached again after the link was lost (a broker reconnect).
  var reconnects: AsyncStream<Void> { get }
  /// Whether the controller was reachable at the last contact (`airlift-agent status`).
  var isConnected: Bool { get }
  /// The longest wait between two tries of an undelivered report.
  var outboxMaxRetryDelay: Double { get }

  /// Holds the link until cancelled: the broker session is subscribed, connected (retrying) and followed.
  func run() async throws
  /// Returns once the link is up the first time (at once for HTTPS).
  func established() async
  /// Full contact: presence, the device document, and the desired deployment (into `messages`).
  func announce(nextCheckIn: Date) async -> Bool
  /// The device document alone, after an update ended (the new inventory).
  func sendInventory() async
  /// Delivers one stored report or command result.
  func deliver(_ message: OutboxMessage) async throws -> OutboxDelivery
  /// Says goodbye (offline presence) and lets go of the connection.
  func close() async
}
