import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// The device renews its own certificate before it expires: a key made here, a CSR its current certificate
/// authenticates, and a switch only once the controller accepted the new pair. Until then the old pair stays in
/// place, so a failed or interrupted renewal never strands the device.
struct CertificateRenewal: Sendable {
  let config: AgentConfig
  let logger: Logger

  /// Where the new pair waits until it is proven: next to the files it replaces.
  var pending: (certificate: String, key: String) { ("\(config.certificate).next", "\(config.key).next") }

  /// The current certificate's validity (nil: it cannot be read).
  func current() -> CertificateValidity? {
    guard let pem = try? String(contentsOfFile: config.certificate, encoding: .utf8) else { return nil }
    return try? CertificateValidity(pem: pem, source: config.certificate)
  }

  /// When the renewal is due: `renewCertificateAt` of the current certificate's lifetime.
  func due() -> Date? { current()?.point(config.renewCertificateAt) }

  /// Settles what a crash between the two renames left: a new certificate beside the old key gets its new key;
  /// a pending pair that never replaced a working one is dropped (the renewal runs again).
  static func recover(_ config: AgentConfig, logger: Logger) {
    let renewal = CertificateRenewal(config: config, logger: logger)
    let (nextCertificate, nextKey) = renewal.pending
    let files = FileManager.default
    guard files.fileExists(atPath: nextKey) || files.fileExists(atPath: nextCertificate) else { return }
    let certificate = (try? String(contentsOfFile: config.certificate, encoding: .utf8)) ?? ""
    let key = (try? String(contentsOfFile: config.key, encoding: .utf8)) ?? ""
    if !DeviceKey.matches(certificatePEM: certificate, keyPEM: key),
      let waiting = try? String(contentsOfFile: nextKey, encoding: .utf8),
      DeviceKey.matches(certificatePEM: certificate, keyPEM: waiting)
    {
      if rename(nextKey, config.key) == 0 {
        logger.notice("finished a certificate renewal a stop interrupted: the new key is in place")
      }
    }
    try? files.removeItem(atPath: nextCertificate)
    try? files.removeItem(atPath: nextKey)
  }

  /// Renews the certificate through `http` (which holds the current one): the new pair replaces the old only
  /// after a request with it succeeded. Returns the new certificate's validity.
  func renew(using http: HTTPClient) async throws -> CertificateValidity {
    let key = try DeviceKey.generate()
    let csr = try DeviceKey.signingRequest(commonName: config.deviceID, keyPEM: key)
    var request = HTTPClientRequest(url: "\(base)/api/v1/device/certificate")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(API.CertificateRequest(csr: csr))))
    let issued = try await Self.decode(
      API.RenewedCertificate.self, from: try await http.execute(request, timeout: .seconds(60)), url: request.url)
    guard DeviceKey.matches(certificatePEM: issued.certificate, keyPEM: key) else {
      throw AgentError.controller(reason: "the renewed certificate is not for the key this device made")
    }
    let validity = try CertificateValidity(pem: issued.certificate, source: "the renewed certificate")
    let (nextCertificate, nextKey) = pending
    try Self.write(key, to: nextKey, mode: 0o600)
    try Self.write(issued.certificate, to: nextCertificate, mode: 0o644)
    do {
      try await prove()
    } catch {
      try? FileManager.default.removeItem(atPath: nextCertificate)
      try? FileManager.default.removeItem(atPath: nextKey)
      throw AgentError.controller(reason: "the controller did not accept the renewed certificate: \(error)")
    }
    // Certificate first: a stop between the two renames is finished by `recover` at the next start.
    guard rename(nextCertificate, config.certificate) == 0, rename(nextKey, config.key) == 0 else {
      throw AgentError.config(path: config.certificate, reason: "cannot put the renewed certificate in place")
    }
    logger.notice(
      "renewed the device certificate",
      metadata: ["serial": .string(issued.serial), "expires": .string(validity.notAfter.formatted(.iso8601))])
    return validity
  }

  /// One request to the controller with the pending pair: the new certificate works before it is used.
  private func prove() async throws {
    var trial = config
    (trial.certificate, trial.key) = pending
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: try Agent.httpConfiguration(trial))
    defer { _ = http.shutdown() }
    let request = HTTPClientRequest(url: "\(base)/api/v1/device/deployment")
    let response = try await http.execute(request, timeout: .seconds(60))
    guard (200..<300).contains(response.status.code) else {
      throw AgentError.controller(reason: "GET /api/v1/device/deployment answered HTTP \(response.status.code)")
    }
    _ = try await response.body.collect(upTo: 1 << 20)
  }

  private var base: String {
    config.controllerURL.hasSuffix("/") ? String(config.controllerURL.dropLast()) : config.controllerURL
  }

  private static func decode<T: Decodable>(_ type: T.Type, from response: HTTPClientResponse, url: String)
    async throws -> T
  {
    let data = Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
    guard (200..<300).contains(response.status.code) else {
      let message =
        (try? JSONDecoder().decode(API.ErrorBody.self, from: data))?.error.message ?? "\(response.status)"
      throw AgentError.controller(reason: "\(url) answered HTTP \(response.status.code): \(message)")
    }
    return try Wire.decoder().decode(T.self, from: data)
  }

  /// Writes `text` to `path` with `mode` from the first byte (a key is never readable by others), synced.
  private static func write(_ text: String, to path: String, mode: mode_t) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard descriptor >= 0 else { throw AgentError.config(path: path, reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    _ = fchmod(descriptor, mode)
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
    guard written == bytes.count, fsync(descriptor) == 0 else {
      throw AgentError.config(path: path, reason: "could not write it whole (\(String(cString: strerror(errno))))")
    }
  }
}

/// A flag set once, read after: the renewal tells `Agent.run` to start its services again.
final class OnceFlag: Sendable {
  private let value = Mutex(false)
  func set() { value.withLock { $0 = true } }
  var isSet: Bool { value.withLock { $0 } }
}
