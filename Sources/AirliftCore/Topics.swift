/// The MQTT topics of protocol v1, built and parsed in one place.
public enum Topics {
  public static let root = "airlift/v1"

  /// The per-device channels of DESIGN.md's topic table.
  public enum Channel: String, Sendable, CaseIterable {
    case deployment, checkin, status, presence
    /// Controller → device: an operator's command (QoS 1, not retained).
    case command
    /// Device → controller: the answer to a command.
    case commandResult = "command-result"
    /// Controller → device (retained): the properties it should have.
    case config
    /// Device → controller: a telemetry event a program on the device sent through the agent.
    case event
  }

  public static func device(_ id: DeviceID, _ channel: Channel) -> String {
    "\(root)/devices/\(id.rawValue)/\(channel.rawValue)"
  }

  /// Filter for one channel of every device, e.g. all `status` topics.
  public static func allDevices(_ channel: Channel) -> String {
    "\(root)/devices/+/\(channel.rawValue)"
  }

  /// The same filter as a shared subscription (`$share/{group}/...`), so
  /// several controllers split the load. The group name must be secret to
  /// the fleet: Mosquitto's ACL file does not check SUBSCRIBE, so a device
  /// that knew it could join the group and swallow other devices' reports.
  public static func sharedAllDevices(_ channel: Channel, group: String) -> String {
    "$share/\(group)/\(allDevices(channel))"
  }

  public static func groupWake(_ group: String) -> String {
    "\(root)/groups/\(group)/wake"
  }

  /// Splits `airlift/v1/devices/{id}/{channel}` into its parts.
  public static func parseDeviceTopic(_ topic: String) throws(AirliftCoreError) -> (DeviceID, Channel) {
    let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 5, parts[0] == "airlift", parts[1] == "v1", parts[2] == "devices",
      let channel = Channel(rawValue: String(parts[4]))
    else { throw .unknownTopic(topic) }
    guard let id = try? DeviceID(String(parts[3])) else { throw .unknownTopic(topic) }
    return (id, channel)
  }

}
