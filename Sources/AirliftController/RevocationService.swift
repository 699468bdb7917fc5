import AirliftCore
import AirliftCrypto
import AirliftMQTT
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Revoking a device: its certificates go on the CRL the broker checks (so it
/// cannot connect again), its current broker session is closed, and the
/// controller turns it away on HTTPS and ignores what it still sends.
public final class RevocationService: Service, Sendable {
  private let store: ControllerStore
  private let mqtt: MQTTClient
  private let config: ControllerConfig
  private let logger: Logger
  private let revokedSerials: Mutex<Set<String>>
  private let revokedDevices: Mutex<Set<String>>
  /// Serials already recorded this run (a certificate is written to the store once).
  private let seen = Mutex<Set<String>>([])

  init(store: ControllerStore, mqtt: MQTTClient, config: ControllerConfig, logger: Logger) async throws {
    self.store = store
    self.mqtt = mqtt
    self.config = config
    self.logger = logger
    revokedSerials = Mutex(Set(try await store.revocations().map(\.serial)))
    revokedDevices = Mutex(try await store.revokedDevices())
  }

  /// Keeps the CRL current: written when missing, and again when it is 30 days old (it is valid
  /// for a year; an expired CRL would make the broker refuse every device).
  ///
  /// Every few seconds it also reloads the revoked certificates and devices
  /// from the store, so a revocation made through another controller sharing
  /// the database is enforced here within `reloadInterval`.
  public func run() async throws {
    try? await cancelWhenGracefulShutdown {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          while !Task.isCancelled {
            await self.refreshList()
            try await Task.sleep(for: .seconds(3600))
          }
        }
        group.addTask {
          while !Task.isCancelled {
            try await Task.sleep(for: Self.reloadInterval)
            await self.reloadRevoked()
          }
        }
        try await group.waitForAll()
      }
    }
  }

  static let reloadInterval: Duration = .seconds(5)

  /// Reads the revoked serials and devices again (another controller may have revoked one).
  func reloadRevoked() async {
    do {
      let serials = Set(try await store.revocations().map(\.serial))
      let devices = try await store.revokedDevices()
      revokedSerials.withLock { $0.formUnion(serials) }
      revokedDevices.withLock { $0.formUnion(devices) }
    } catch {
      logger.warning("could not reload the revocations: \(error)")
    }
  }

  func refreshList(now: Date = Date()) async {
    let path = config.revocationListFile
    let written = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate]) as? Date
    guard written.map({ now.timeIntervalSince($0) > 30 * 86400 }) ?? true else { return }
    guard FileManager.default.fileExists(atPath: config.caKeyFile) else {
      return logger.warning("no CA key at \(config.caKeyFile): the revocation list \(path) is not kept current")
    }
    do { try await writeList() } catch { logger.warning("could not write the revocation list \(path): \(error)") }
  }

  /// Throws unless the device's certificate may be used; remembers certificates it has not seen.
  func admit(_ device: DeviceID, serial: String, notAfter: Date? = nil) async throws {
    if revokedSerials.withLock({ $0.contains(serial) }) {
      throw APIError(
        status: .forbidden, code: "certificate_revoked",
        message: "the certificate of device \(device) (serial \(serial)) has been revoked")
    }
    guard seen.withLock({ $0.insert(serial).inserted }) else { return }
    try await store.recordCertificate(device, serial: serial, notAfter: notAfter)
  }

  /// Whether the device's certificates were revoked (its messages are ignored).
  func isRevoked(_ device: DeviceID) -> Bool { revokedDevices.withLock { $0.contains(device.rawValue) } }

  /// Revokes every certificate known for `device` (seen by the controller, or in `CERTIFICATES/devices/`).
  public func revoke(_ device: DeviceID, reason: String?, by: String?, now: Date = Date()) async throws
    -> API.Revocation
  {
    var serials: [String] = []
    let issued = "\(config.certificates)/devices/\(device.rawValue).crt"
    if FileManager.default.fileExists(atPath: issued) {
      serials.append(try CertificateIdentity.serialNumber(pemFile: issued))
    }
    let revoked = try await store.revoke(device, serials: serials, reason: reason, by: by, now: now)
    revokedSerials.withLock { $0.formUnion(revoked) }
    revokedDevices.withLock { _ = $0.insert(device.rawValue) }
    try await writeList()
    logger.warning(
      "revoked device \(device)", metadata: ["serials": .string(revoked.joined(separator: ",")), "by": "\(by ?? "-")"])
    // Its retained deployment goes; its open session is closed once the broker has reloaded the list.
    try? await mqtt.publish(Topics.device(device, .deployment), payload: [], qos: 1, retain: true)
    closeSessionSoon(of: device)
    return API.Revocation(
      device: device.rawValue, serials: revoked, revokedAt: now, reason: reason, crlFile: config.revocationListFile)
  }

  /// A new enrollment replaces the device's certificates: the current ones go on the CRL and its open session is
  /// closed; the device is not revoked, its new certificate works. Returns once the session is closed, so the
  /// caller hands out the new certificate after: closing later took over the new device's session instead (the
  /// broker knows sessions by CN, not by certificate), and the replacement flapped offline twice.
  func replaceCertificates(of device: DeviceID, by: String?) async throws -> [String] {
    let revoked = try await store.revokeReplaced(device, by: by)
    guard !revoked.isEmpty else { return [] }
    revokedSerials.withLock { $0.formUnion(revoked) }
    try await writeList()
    logger.warning(
      "replaced the certificates of device \(device)",
      metadata: ["serials": .string(revoked.joined(separator: ",")), "by": "\(by ?? "-")"])
    await closeSession(of: device)
    return revoked
  }

  private func writeList() async throws {
    let authority = try CertificateAuthority(certificateFile: config.caFile, keyFile: config.caKeyFile)
    let entries = try await store.revocations().map { RevokedSerial(serial: $0.serial, revokedAt: $0.revokedAt) }
    let pem = try authority.revocationList(entries)
    // Whole or not at all: the broker may read it at any moment.
    let path = config.revocationListFile
    let temporary = path + ".tmp-\(UUID().uuidString.prefix(8))"
    try Data(pem.utf8).write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, path) == 0 else {
      throw CertificateAuthorityError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
  }

  /// Closes the device's broker session once the broker has reloaded the revocation list (it rereads it within
  /// 2 s), and once more later.
  private func closeSessionSoon(of device: DeviceID) {
    Task.detached { [self] in await closeSession(of: device) }
  }

  /// Closes the device's broker session after the broker has had time to read the new CRL (Broker/run looks
  /// every few seconds), and again a little later, so its reconnect meets the list.
  private func closeSession(of device: DeviceID) async {
    for delay in Self.sessionCloseDelays {
      try? await Task.sleep(for: delay)
      await Self.closeSession(of: device, config: config, logger: logger)
    }
  }

  static let sessionCloseDelays: [Duration] = [.seconds(3), .seconds(7)]

  /// A connection with the device's identity takes its session over (and
  /// ends it): the broker binds a session to the certificate's CN, so the
  /// controller makes a certificate with that CN for a minute (a new serial,
  /// not on the list), connects, and leaves; the device's reconnect meets the
  /// new revocation list.
  private static func closeSession(of device: DeviceID, config: ControllerConfig, logger: Logger) async {
    let base = "\(config.dataDirectory)/.session-close-\(UUID().uuidString.prefix(8))"
    defer {
      unlink(base + ".crt")
      unlink(base + ".key")
    }
    do {
      let authority = try CertificateAuthority(certificateFile: config.caFile, keyFile: config.caKeyFile)
      let (certificate, key) = try authority.issueShortLived(commonName: device.rawValue, seconds: 120)
      guard
        FileManager.default.createFile(
          atPath: base + ".key", contents: Data(key.utf8), attributes: [.posixPermissions: 0o600]),
        FileManager.default.createFile(atPath: base + ".crt", contents: Data(certificate.utf8))
      else { throw CocoaError(.fileWriteUnknown) }
      let client = try MQTTClient(
        options: MQTTClientOptions(
          brokerURL: config.brokerURL, clientID: device.rawValue,
          tls: .init(caFile: config.caFile, certificateFile: base + ".crt", keyFile: base + ".key"),
          cleanStart: true, sessionExpiry: 0, connectTimeout: 10),
        logger: logger)
      try await client.connect()
      await client.close()
    } catch {
      logger.warning("could not close the broker session of revoked device \(device): \(error)")
    }
  }
}
