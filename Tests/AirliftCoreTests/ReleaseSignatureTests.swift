import AirliftCore
import AirliftCrypto
import Foundation
import Testing

@Suite("Ed25519 release signatures through libcrypto, and the openssl CLI")
struct ReleaseSignatureTests {
  /// RFC 8032, section 7.1, test 1 (empty message).
  static let rfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
  static let rfcPublic = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
  static let rfcSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"

  static func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
      let next = hex.index(index, offsetBy: 2)
      out.append(UInt8(hex[index..<next], radix: 16)!)
      index = next
    }
    return out
  }

  /// The RFC key as a PKCS#8 PEM (fixed DER prefix for Ed25519 + the 32-byte seed).
  static var rfcPEM: String {
    let der = bytes("302e020100300506032b657004220420" + rfcSeed)
    return "-----BEGIN PRIVATE KEY-----\n\(Data(der).base64EncodedString())\n-----END PRIVATE KEY-----\n"
  }

  @Test("signing and verifying match RFC 8032's test vector")
  func rfcVector() throws {
    let key = try ReleaseSigningKey(pem: Self.rfcPEM)
    #expect(try key.publicKey.raw == Self.bytes(Self.rfcPublic))
    #expect(try key.sign([]) == Self.bytes(Self.rfcSignature))
    let verifying = try ReleaseVerifyingKey(raw: Self.bytes(Self.rfcPublic))
    #expect(verifying.verifies(Self.bytes(Self.rfcSignature), over: []))
    #expect(!verifying.verifies(Self.bytes(Self.rfcSignature), over: [0]))
    #expect(verifying.id == String(SHA256Hasher.hex(of: Self.bytes(Self.rfcPublic)).prefix(16)))
  }

  @Test("a signed manifest verifies with its key only, and not once a byte of it changed")
  func trust() throws {
    let key = try ReleaseSigningKey.generate()
    let signed = try key.sign(ReleaseManifestTests.manifest)
    let trust = ReleaseTrust(keys: [try ReleaseSigningKey.generate().publicKey, try key.publicKey])
    try trust.verify(signed)
    #expect(throws: ReleaseRefusal.untrustedKey(signed.signature.key)) {
      try ReleaseTrust(keys: [try ReleaseSigningKey.generate().publicKey]).verify(signed)
    }
    #expect(throws: ReleaseRefusal.noTrustedKeys) { try ReleaseTrust(keys: []).verify(signed) }
    var tampered = signed
    tampered.manifest.assets[0].size += 1
    #expect(throws: ReleaseRefusal.badSignature(key: signed.signature.key)) { try trust.verify(tampered) }
    var garbage = signed
    garbage.signature.value = "not base64!"
    #expect(throws: ReleaseRefusal.badSignature(key: signed.signature.key)) { try trust.verify(garbage) }
    // PEM round trips.
    let again = try ReleaseSigningKey(pem: try key.pem)
    #expect(try again.publicKey == (try key.publicKey))
    #expect(try ReleaseVerifyingKey(pem: try key.publicKey.pem) == (try key.publicKey))
    #expect(throws: SigningKeyError.self) { try ReleaseVerifyingKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n") }
    #expect(throws: SigningKeyError.self) { try ReleaseVerifyingKey(contentsOf: "/nonexistent/key.pub") }
  }

  // MARK: A third party with the openssl CLI alone (docs/security.md)

  static func openssl(_ arguments: [String], in folder: String) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: folder)
    // A file, not a pipe: a process another test starts meanwhile could inherit a pipe and hold it open.
    let outputPath = "\(folder)/openssl-\(UUID().uuidString).out"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    process.standardOutput = output
    process.standardError = output
    try process.run()
    try? output.close()
    process.waitUntilExit()
    return (process.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
  }

  @Test("a manifest written with printf and signed with openssl verifies here; ours verifies with openssl")
  func opensslInterop() throws {
    let folder = NSTemporaryDirectory() + "airlift-sig-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let manifest = ReleaseManifestTests.manifest
    func run(_ arguments: [String]) throws -> String {
      let result = try Self.openssl(arguments, in: folder)
      #expect(result.status == 0, "\(arguments.joined(separator: " ")): \(result.output)")
      return result.output
    }
    _ = try run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", "release.key"])
    _ = try run(["openssl", "pkey", "-in", "release.key", "-pubout", "-out", "release.pub"])
    // The manifest exactly as docs/security.md tells a third party to write it.
    _ = try run([
      "sh", "-c",
      "printf 'airlift-release-manifest v1\\npackage %s\\nversion %s\\nhandler %s\\nexpires %s\\ndowngrade %s\\n' "
        + "gw-fw 2.1.0 script 2026-12-31T00:00:00Z no > manifest.txt && "
        + "printf 'asset %s %s %s\\n' \(ReleaseManifestTests.digestA) 3 'a b.bin' "
        + "\(ReleaseManifestTests.digestB) 10 z.tar.gz >> manifest.txt",
    ])
    let written = try String(contentsOfFile: "\(folder)/manifest.txt", encoding: .utf8)
    #expect(written == manifest.canonicalText)
    _ = try run([
      "openssl", "pkeyutl", "-sign", "-inkey", "release.key", "-rawin", "-in", "manifest.txt", "-out", "sig",
    ])
    let keyID = try run([
      "sh", "-c", "openssl pkey -pubin -in release.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16",
    ]).trimmingCharacters(in: .whitespacesAndNewlines)

    let theirs = try ReleaseVerifyingKey(contentsOf: "\(folder)/release.pub")
    #expect(theirs.id == keyID)
    let signature = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/sig"))
    try ReleaseTrust(keys: [theirs]).verify(
      SignedManifest(manifest: manifest, signature: .init(key: keyID, value: signature.base64EncodedString())))

    // The other way: our signature, their verification.
    let ours = try ReleaseSigningKey(contentsOf: "\(folder)/release.key")
    let signed = try ours.sign(manifest)
    try Data(base64Encoded: signed.signature.value)!.write(to: URL(fileURLWithPath: "\(folder)/our.sig"))
    let verified = try run([
      "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "release.pub", "-rawin", "-in", "manifest.txt",
      "-sigfile", "our.sig",
    ])
    #expect(verified.contains("Signature Verified Successfully"))
    try "tampered".write(toFile: "\(folder)/manifest.txt", atomically: true, encoding: .utf8)
    let refused = try Self.openssl(
      [
        "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "release.pub", "-rawin", "-in", "manifest.txt",
        "-sigfile", "our.sig",
      ], in: folder)
    #expect(refused.status != 0)
  }
}
