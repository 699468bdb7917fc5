import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Getting a device certificate with only a bootstrap token: the key is made
/// here (and stays here), the controller gets a CSR and answers with a
/// certificate once an operator approved it (at once for a pre-registered id).
public enum Enrollment {
  /// Enrolls the device in `config`: writes `config.key` (if missing, mode 0600) and, once issued,
  /// `config.certificate`. `progress` hears each step. Waits up to `timeout` seconds for an approval.
  public static func run(
    config: AgentConfig, token: String, timeout: Double = 3600, poll: Double = 2,
    progress: @Sendable (String) -> Void = { _ in }
  ) async throws {
    let keyPEM: String
    if let existing = try? String(contentsOfFile: config.key, encoding: .utf8) {
      keyPEM = existing
      progress("using the existing key \(config.key)")
    } else {
      keyPEM = try DeviceKey.generate()
      let folder = URL(fileURLWithPath: config.key).deletingLastPathComponent().path
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      guard
        FileManager.default.createFile(
          atPath: config.key, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600])
      else { throw AgentError.config(path: config.key, reason: "cannot write the device key") }
      progress("made a new EC P-256 key in \(config.key)")
    }
    let csr = try DeviceKey.signingRequest(commonName: config.deviceID, keyPEM: keyPEM)

    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file(config.caFile)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    defer { _ = http.shutdown() }
    let base = config.controllerURL.hasSuffix("/") ? String(config.controllerURL.dropLast()) : config.controllerURL

    func call(_ path: String, body: [UInt8]? = nil) async throws -> API.Enrollment {
      var request = HTTPClientRequest(url: base + path)
      request.headers.add(name: "Authorization", value: "Bearer \(token)")
      if let body {
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
      }
      let response = try await http.execute(request, timeout: .seconds(30))
      let data = Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
      let decoder = JSONDecoder()
      decoder.dateDecodingStrategy = .iso8601
      guard (200..<300).contains(response.status.code) else {
        let message = (try? decoder.decode(API.ErrorBody.self, from: data))?.error.message ?? "\(response.status)"
        throw AgentError.controller(reason: "\(base + path) answered HTTP \(response.status.code): \(message)")
      }
      return try decoder.decode(API.Enrollment.self, from: data)
    }

    var enrollment = try await call(
      "/enroll", body: Array(try JSONEncoder().encode(API.EnrollmentRequest(device: config.deviceID, csr: csr))))
    progress("sent a certificate signing request for \(config.deviceID)")
    let deadline = Date() + timeout
    while enrollment.status == API.Enrollment.Status.pending {
      guard Date() < deadline else {
        throw AgentError.config(path: config.certificate, reason: "no operator approved the enrollment in time")
      }
      progress("waiting for an operator to approve it (airlift enroll approve \(config.deviceID))")
      try await Task.sleep(for: .seconds(poll))
      enrollment = try await call("/enroll/\(config.deviceID)")
    }
    guard enrollment.status == API.Enrollment.Status.issued, let certificate = enrollment.certificate else {
      throw AgentError.config(
        path: config.certificate, reason: "the enrollment was rejected by \(enrollment.decidedBy ?? "an operator")")
    }
    try Data(certificate.utf8).write(to: URL(fileURLWithPath: config.certificate))
    progress("certificate (serial \(enrollment.serial ?? "?")) written to \(config.certificate)")
  }
}
