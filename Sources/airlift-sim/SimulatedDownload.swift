import AirliftCore
import AirliftCrypto
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// How a simulated device fetches a release's artifacts.
enum DownloadMode: String, CaseIterable, Sendable {
  /// Every byte over HTTPS with the device's certificate, hashed and checked against the notice.
  case full
  /// Only a `Range: bytes=0-0` request: the artifact is there and the device may have it.
  case head
  /// No HTTPS at all (MQTT load only).
  case none
}

/// One HTTPS client per download (each device presents its own certificate), made when needed.
enum SimulatedDownload {
  /// Fetches `artifact` as `mode` says; throws a reason a report can carry.
  static func fetch(_ artifact: ArtifactRef, mode: DownloadMode, certs: String, device: DeviceID) async throws {
    guard mode != .none else { return }
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file("\(certs)/ca.crt")
    tls.certificateChain = try NIOSSLCertificate.fromPEMFile("\(certs)/devices/\(device).crt").map { .certificate($0) }
    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: "\(certs)/devices/\(device).key", format: .pem))
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    configuration.timeout.connect = .seconds(30)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    defer { _ = http.shutdown() }
    var request = HTTPClientRequest(url: artifact.url)
    if mode == .head { request.headers.add(name: "Range", value: "bytes=0-0") }
    let response = try await http.execute(request, timeout: .seconds(300))
    guard (200..<300).contains(response.status.code) else {
      throw SimulationError("\(artifact.url) answered HTTP \(response.status.code)")
    }
    let hasher = SHA256Hasher()
    var received: Int64 = 0
    for try await chunk in response.body {
      hasher.update(chunk.readableBytesView)
      received += Int64(chunk.readableBytes)
    }
    guard mode == .full else { return }
    guard received == artifact.size, hasher.finalizeHex() == artifact.sha256 else {
      throw SimulationError("\(artifact.name): \(received) bytes, not the \(artifact.size) with the notice's SHA-256")
    }
  }
}

struct SimulationError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// At most N downloads at a time across the simulated fleet: each is a TLS
/// connection, and one process has only so many file descriptors.
actor DownloadSlots {
  private var free: Int
  private var waiting: [CheckedContinuation<Void, Never>] = []

  init(_ count: Int) { free = max(1, count) }

  /// Runs `body` once a slot is free.
  func withSlot<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    if free > 0 {
      free -= 1
    } else {
      await withCheckedContinuation { waiting.append($0) }
    }
    defer {
      if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
    return try await body()
  }
}
