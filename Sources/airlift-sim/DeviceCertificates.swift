import AirliftCore
import AirliftCrypto
import Foundation

/// Device certificates for simulated fleets, issued in-process with the fleet
/// CA (libcrypto) instead of one `openssl` run per device, and kept in
/// `CERTS/devices/` so later runs reuse them.
enum DeviceCertificates {
  /// Issues the certificates of `ids` that `certs/devices/` lacks, on every core. Returns how many were made.
  static func ensure(_ ids: [DeviceID], certs: String) async throws -> Int {
    let folder = "\(certs)/devices"
    let missing = ids.filter { !FileManager.default.fileExists(atPath: "\(folder)/\($0.rawValue).crt") }
    guard !missing.isEmpty else { return 0 }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let authority = try CertificateAuthority(certificateFile: "\(certs)/ca.crt", keyFile: "\(certs)/ca.key")
    let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for worker in 0..<workers {
        let share = stride(from: worker, to: missing.count, by: workers).map { missing[$0] }
        group.addTask {
          for id in share { try issue(id.rawValue, authority: authority, folder: folder) }
        }
      }
      try await group.waitForAll()
    }
    return missing.count
  }

  private static func issue(_ id: String, authority: CertificateAuthority, folder: String) throws {
    let key = try DeviceKey.generate()
    let request = try DeviceKey.signingRequest(commonName: id, keyPEM: key)
    let (certificate, _) = try authority.issue(csrPEM: request, commonName: id)
    guard
      FileManager.default.createFile(
        atPath: "\(folder)/\(id).key", contents: Data(key.utf8), attributes: [.posixPermissions: 0o600])
    else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: "\(folder)/\(id).key"]) }
    // The certificate last: its presence says the pair is complete.
    try Data(certificate.utf8).write(to: URL(fileURLWithPath: "\(folder)/\(id).crt"), options: .atomic)
  }
}
