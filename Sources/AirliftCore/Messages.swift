import Foundation

/// One downloadable file of a release, addressed by its SHA-256.
public struct ArtifactRef: Codable, Sendable, Equatable {
  public var name: String
  public var url: String
  public var size: Int64
  public var sha256: String
  /// Where the asset's chunk index is (nil: it has none); its SHA-256 and size are in the signed manifest.
  public var indexURL: String?
  /// Where the asset's chunk pack is (nil: it has none); its SHA-256 and size are in the signed index.
  public var packURL: String?

  public init(
    name: String, url: String, size: Int64, sha256: String, indexURL: String? = nil, packURL: String? = nil
  ) {
    self.name = name
    self.url = url
    self.size = size
    self.sha256 = sha256
    self.indexURL = indexURL
    self.packURL = packURL
  }
}

extension Array {
  /// Nil for an empty array (fields left out of a payload rather than sent empty).
  public var nilIfEmpty: Self? { isEmpty ? nil : self }
}

extension Array where Element == ArtifactRef {
  /// The bytes of all the artifacts, saturating (a forged notice's sizes cannot overflow it).
  public var totalSize: Int64 {
    reduce(Int64(0)) { sum, artifact in
      let (total, overflow) = sum.addingReportingOverflow(Swift.max(artifact.size, 0))
      return overflow ? .max : total
    }
  }
}

/// Names a release: a package at one version.
public struct ReleaseRef: Codable, Sendable, Equatable, CustomStringConvertible {
  public var package: String
  public var version: String

  public init(package: String, version: String) {
    self.package = package
    self.version = version
  }

  public var description: String { "\(package)@\(version)" }
}

/// Time limits a device applies to one deployment, in seconds.
public struct UpdateTimeouts: Codable, Sendable, Equatable {
  public var download: Int
  public var install: Int

  public init(download: Int = 600, install: Int = 600) {
    self.download = download
    self.install = install
  }
}

/// `airlift/v1/devices/{id}/deployment` (retained): what the device should run.
public struct DeploymentNotice: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var deployment: String
  public var release: ReleaseRef
  public var handler: String
  public var artifacts: [ArtifactRef]
  public var parameters: [String: String]
  public var timeouts: UpdateTimeouts
  /// Which try of the whole update this is (nil or 1: the first); a deployment with retries sends a failed device
  /// the same deployment again with the next round.
  public var round: Int?
  /// The release's signed manifest: the device installs nothing it does not describe.
  public var manifest: SignedManifest?
  /// The operator asked for this release to replace a newer version (the manifest must allow it too).
  public var downgrade: Bool?
  /// A multi-step update's steps (handler `steps`), resolved with the run's parameter values.
  public var steps: [FlowStep]?

  public init(
    deployment: String, release: ReleaseRef, handler: String, artifacts: [ArtifactRef],
    parameters: [String: String] = [:], timeouts: UpdateTimeouts = .init(), round: Int? = nil,
    manifest: SignedManifest? = nil, downgrade: Bool? = nil, steps: [FlowStep]? = nil
  ) {
    self.steps = steps
    self.round = round
    self.manifest = manifest
    self.downgrade = downgrade
    self.deployment = deployment
    self.release = release
    self.handler = handler
    self.artifacts = artifacts
    self.parameters = parameters
    self.timeouts = timeouts
  }
}

extension DeploymentNotice {
  /// What the device keeps this try of the update under: the deployment id, and the round after the first.
  public var key: String { (round ?? 1) > 1 ? "\(deployment)#\(round!)" : deployment }
}

/// `airlift/v1/devices/{id}/checkin`: who the device is and what it runs.
public struct CheckIn: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var device: DeviceID
  public var attributes: [String: String]
  public var installed: [String: String]
  public var agentVersion: String
  /// Update channels the device follows: package → floating tag (`stable`, `beta`).
  public var follows: [String: String]?
  /// The containerized apps it runs, with their state (compose devices).
  public var apps: [AppState]?
  /// `https` for a device that polls instead of holding a broker connection (nil: MQTT).
  public var transport: DeviceTransport?
  /// A polling device's promise: it checks in again by then (its period plus jitter).
  public var nextCheckIn: Date?
  /// What keeps the agent from working as it should now, in words (its data disk is full, its state
  /// cannot be written): shown to operators with the device. Nil or empty: nothing.
  public var problems: [String]?
  /// The hardware the device is (agent config `compatible`), which releases that name theirs are matched with.
  public var compatible: String?
  /// The version of the properties it applied last (`DeviceConfig.version`).
  public var configVersion: String?

  public init(
    device: DeviceID, attributes: [String: String], installed: [String: String], agentVersion: String,
    follows: [String: String]? = nil, apps: [AppState]? = nil, transport: DeviceTransport? = nil,
    nextCheckIn: Date? = nil, problems: [String]? = nil, compatible: String? = nil, configVersion: String? = nil
  ) {
    self.configVersion = configVersion
    self.compatible = compatible
    self.problems = problems
    self.transport = transport
    self.nextCheckIn = nextCheckIn
    self.apps = apps
    self.device = device
    self.attributes = attributes
    self.installed = installed
    self.agentVersion = agentVersion
    self.follows = follows
  }
}

/// How a device talks to the controller.
public enum DeviceTransport: String, Codable, Sendable, CaseIterable {
  /// A broker session: notices arrive at once, presence by last will.
  case mqtt
  /// Check-ins over HTTPS every period: notices arrive at the next check-in.
  case https
}

/// The answer to a polling device's check-in (`POST /api/v1/device/checkin`).
public struct PollAnswer: Codable, Sendable, Equatable {
  public var v: Int = 1
  /// The deployment the device should run now, as MQTT devices get it on their `deployment` topic.
  public var deployment: DeploymentNotice?
  /// Operator commands not answered yet, as MQTT devices get them on their `command` topic.
  public var commands: [DeviceCommand]?
  /// The properties it should have, when its check-in named another version.
  public var config: DeviceConfig?

  public init(deployment: DeploymentNotice?, commands: [DeviceCommand]? = nil, config: DeviceConfig? = nil) {
    self.config = config
    self.deployment = deployment
    self.commands = commands
  }
}

/// One containerized app on a device, as its check-in reports it.
public struct AppState: Codable, Sendable, Equatable {
  public enum State: String, Codable, Sendable {
    case running, starting, unhealthy, stopped
  }
  public var name: String
  public var version: String
  public var state: State
  /// Why it is not running (a container's exit code, a failed health check).
  public var reason: String?

  public init(name: String, version: String, state: State, reason: String? = nil) {
    self.name = name
    self.version = version
    self.state = state
    self.reason = reason
  }
}

/// `airlift/v1/devices/{id}/status`: one progress event of one deployment.
public struct StatusReport: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var deployment: String
  public var state: DeviceState
  public var stage: String?
  public var bytes: Int64?
  public var total: Int64?
  public var percent: Int?
  public var attempt: Int?
  public var error: String?
  public var time: Date
  /// The agent's sequence number for its reports (increasing, never reused):
  /// the controller stores each number once and asks for the ones it lacks.
  public var seq: Int64?
  /// The round of the update it belongs to (nil: the first); reports of an earlier round move nothing.
  public var round: Int?
  /// Of `bytes`, those a delta update took from the device instead of fetching them.
  public var reused: Int64?
  /// The bytes this update's download has moved over the network so far: every attempt's, a delta's ranges and
  /// its chunk index. Beside `total` it is what the download cost.
  public var fetched: Int64?

  public init(
    deployment: String, state: DeviceState, stage: String? = nil, bytes: Int64? = nil,
    total: Int64? = nil, percent: Int? = nil, attempt: Int? = nil, error: String? = nil,
    time: Date = Date(), seq: Int64? = nil
  ) {
    self.seq = seq
    self.deployment = deployment
    self.state = state
    self.stage = stage
    self.bytes = bytes
    self.total = total
    self.percent = percent
    self.attempt = attempt
    self.error = error
    self.time = time
  }
}

/// `airlift/v1/devices/{id}/presence` (retained; `offline` is the last will).
public struct Presence: Codable, Sendable, Equatable {
  public enum Status: String, Codable, Sendable { case online, offline }
  public var v: Int = 1
  public var status: Status

  public init(_ status: Status) { self.status = status }
}

/// JSON encoding shared by every Airlift payload, with the decoding checks
/// of DESIGN.md: `v` must be 1, unknown fields are ignored, anything else
/// malformed is a typed error naming the topic.
public enum Wire {
  public static let version = 1
  /// The largest MQTT payload anyone reads (the broker's `max_packet_size` refuses larger packets first).
  public static let maxPayload = 256 << 10

  /// ISO 8601 with milliseconds (`2026-11-23T16:27:05.123Z`); plain ISO 8601 is read too.
  static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

  public static func encode(_ value: some Encodable) -> [UInt8] {
    let encoder = JSONEncoder()
    // Milliseconds: a device sends several reports a second, and their order matters.
    encoder.dateEncodingStrategy = .custom { date, encoder in
      var container = encoder.singleValueContainer()
      try container.encode(date.formatted(Self.timestamp))
    }
    encoder.outputFormatting = [.sortedKeys]
    // Encoding our own Codable structs cannot fail.
    return Array((try? encoder.encode(value)) ?? Data())
  }

  public static func decode<T: Decodable>(
    _ type: T.Type, from bytes: [UInt8], topic: String
  ) throws(AirliftCoreError) -> T {
    guard !bytes.isEmpty else { throw .malformedPayload(topic: topic, reason: "empty payload") }
    guard bytes.count <= maxPayload else {
      throw .malformedPayload(topic: topic, reason: "\(bytes.count) bytes, more than the \(maxPayload)-byte limit")
    }
    let data = Data(bytes)
    // One parse for a well-formed payload of this version (the common case);
    // anything else is parsed again below to say exactly what is wrong.
    if let versioned = try? Self.decoder().decode(Versioned<T>.self, from: data), let value = versioned.value {
      return value
    }
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data)
    } catch {
      throw .malformedPayload(topic: topic, reason: "not JSON")
    }
    guard let dict = object as? [String: Any] else {
      throw .malformedPayload(topic: topic, reason: "not a JSON object")
    }
    guard let v = dict["v"] as? Int else {
      throw .malformedPayload(topic: topic, reason: "missing integer field 'v'")
    }
    guard v == version else { throw .unsupportedPayloadVersion(topic: topic, version: v) }
    do {
      return try decoder().decode(T.self, from: data)
    } catch let error as DecodingError {
      throw .malformedPayload(topic: topic, reason: describe(error))
    } catch let error as AirliftCoreError {
      throw .malformedPayload(topic: topic, reason: error.description)
    } catch {
      throw .malformedPayload(topic: topic, reason: "\(error)")
    }
  }

  /// A JSON decoder that reads the wire's times (milliseconds, or any ISO 8601): for MQTT payloads and the
  /// controller's JSON request bodies alike, so an RFC 3339 time with fractions or an offset is read everywhere.
  public static func decoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .custom { decoder in
      let text = try decoder.singleValueContainer().decode(String.self)
      guard let date = RFC3339.date(text) else {
        throw DecodingError.dataCorrupted(
          .init(
            codingPath: decoder.codingPath,
            debugDescription: "'\(text.prefix(64))' is not an RFC 3339 time (2027-01-01T12:00:00Z)"))
      }
      return date
    }
    return decoder
  }

  /// A payload whose `v` is this wire version, decoded in the same pass.
  private struct Versioned<T: Decodable>: Decodable {
    let value: T?

    private enum Keys: String, CodingKey { case v }

    init(from decoder: any Decoder) throws {
      let v = try decoder.container(keyedBy: Keys.self).decodeIfPresent(Int.self, forKey: .v)
      value = v == Wire.version ? try T(from: decoder) : nil
    }
  }

  private static func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
      keys.isEmpty ? "payload" : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, let ctx):
      return "missing field '\(path(ctx.codingPath + [key]))'"
    case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
      return "wrong type at '\(path(ctx.codingPath))'"
    case .dataCorrupted(let ctx):
      if let underlying = ctx.underlyingError as? AirliftCoreError { return underlying.description }
      return "invalid value at '\(path(ctx.codingPath))': \(ctx.debugDescription)"
    @unknown default:
      return "\(error)"
    }
  }
}

/// The local `device:update` event the agent gives programs on the device
/// (its Unix socket, one JSON line each, and its hooks, on stdin).
public struct DeviceUpdateEvent: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var event: String = "device:update"
  public var deployment: String
  public var package: String
  public var version: String
  public var state: DeviceState
  public var stage: String?
  /// Percent done, when known.
  public var progress: Int?
  public var attempt: Int?
  public var error: String?
  public var time: Date
  /// In a `ready` event: the verified file of each asset by name, for a program that applies the update itself
  /// and reports with `airlift-agent apply --result ok|failed`.
  public var files: [String: String]?

  /// `event` is `device:update` for state changes and progress, `ready`
  /// when a downloaded update waits for consent (`airlift-agent apply`).
  public init(notice: DeploymentNotice, report: StatusReport, event: String = "device:update") {
    self.event = event
    deployment = notice.deployment
    package = notice.release.package
    version = notice.release.version
    state = report.state
    stage = report.stage
    progress = report.percent
    attempt = report.attempt
    error = report.error
    time = report.time
  }
}

/// `airlift/v1/devices/{id}/command` (QoS 1, not retained): an operator's
/// request to one device.
public struct DeviceCommand: Codable, Sendable, Equatable {
  public enum Action: String, Codable, Sendable {
    /// Switch `package` back to the version it ran before, without a download.
    case rollback
  }

  public var v: Int = 1
  public var id: String
  public var action: Action
  public var package: String
  public var reason: String?
  public var time: Date

  public init(id: String, action: Action, package: String, reason: String? = nil, time: Date = Date()) {
    self.id = id
    self.action = action
    self.package = package
    self.reason = reason
    self.time = time
  }
}

/// `airlift/v1/devices/{id}/command-result`: what the device did with a command.
public struct CommandResult: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var command: String
  public var ok: Bool
  public var message: String
  public var time: Date

  public init(command: String, ok: Bool, message: String, time: Date = Date()) {
    self.command = command
    self.ok = ok
    self.message = message
    self.time = time
  }
}

/// `GET /api/v1/device/status?after=A&through=B`: the report sequence
/// numbers in (A, B] the controller has stored for the calling device, so
/// the device can send again exactly the ones that never arrived.
public struct StoredSeqs: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var seqs: [Int64]

  public init(seqs: [Int64]) {
    self.seqs = seqs
  }
}

/// `POST /api/v1/device/status`: reports the controller may have missed.
public struct StatusBatch: Codable, Sendable, Equatable {
  public var v: Int = 1
  public var reports: [StatusReport]

  public init(reports: [StatusReport]) {
    self.reports = reports
  }
}
