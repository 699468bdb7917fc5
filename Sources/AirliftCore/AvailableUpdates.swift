/// `GET /api/v1/device/updates` (`airlift-agent updates`): what a device could run, and why each is offered.
public struct AvailableUpdates: Codable, Sendable, Equatable {
  /// Where an offer comes from.
  public enum Source: String, Codable, Sendable {
    /// The deployment the controller wants the device to run now.
    case deployment
    /// The version a tag of a channel the device follows names.
    case channel
    /// A release whose distribution policy the device matches, newer than what it runs.
    case policy
  }

  public struct Offer: Codable, Sendable, Equatable {
    public var package: String
    public var version: String
    public var source: Source
    /// The deployment (for `deployment`), or the tag (for `channel`).
    public var via: String?
    /// Its state on the controller, for `deployment`.
    public var state: DeviceState?
    /// What the device runs of the package now.
    public var installed: String?

    public init(
      package: String, version: String, source: Source, via: String? = nil, state: DeviceState? = nil,
      installed: String? = nil
    ) {
      self.package = package
      self.version = version
      self.source = source
      self.via = via
      self.state = state
      self.installed = installed
    }

    /// Whether taking it would change what the device runs.
    public var isNew: Bool { installed != version }
  }

  public var v: Int = Wire.version
  public var device: String
  public var installed: [String: String]
  public var offers: [Offer]

  public init(device: String, installed: [String: String], offers: [Offer]) {
    self.device = device
    self.installed = installed
    self.offers = offers
  }
}
