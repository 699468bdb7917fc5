import AirliftClient
import AirliftCore
import AirliftCrypto
import ArgumentParser
import Foundation

/// Release-signing keys: made and kept on the operator's machine.
struct Keys: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Make and inspect Ed25519 release-signing keys.", subcommands: [Generate.self, Show.self])

  struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a new key pair: PREFIX.key (private, mode 0600) and PREFIX.pub (for agents' trustedKeys).")
    @Option(help: "Path prefix of the two files.") var out: String
    @Flag(help: "Print the key id and the two paths as JSON.") var json = false

    func run() async throws {
      let (privatePath, publicPath) = ("\(out).key", "\(out).pub")
      for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) {
        throw ValidationError("\(path) exists; refusing to overwrite a key (remove it, or pick another --out)")
      }
      let key = try ReleaseSigningKey.generate()
      let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      guard
        FileManager.default.createFile(
          atPath: privatePath, contents: Data(try key.pem.utf8), attributes: [.posixPermissions: 0o600])
      else { throw ValidationError("cannot write \(privatePath)") }
      try Data(try key.publicKey.pem.utf8).write(to: URL(fileURLWithPath: publicPath))
      if json { return print(Output.json(["id": try key.publicKey.id, "private": privatePath, "public": publicPath])) }
      print("key \(try key.publicKey.id): private \(privatePath) (keep it off the controller), public \(publicPath)")
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the id of a public or private key file.")
    @Argument(help: "A PEM key file.") var file: String

    func run() async throws {
      let id: String
      do {
        id = try ReleaseVerifyingKey(contentsOf: file).id
      } catch {
        id = try ReleaseSigningKey(contentsOf: file).publicKey.id
      }
      print("key \(id)")
    }
  }
}

/// How a release is signed when it is created or signed again.
struct SigningOptions: ParsableArguments {
  @Option(help: "Sign with this private key file (or $AIRLIFT_SIGNING_KEY).")
  var signKey: String? = ProcessInfo.processInfo.environment["AIRLIFT_SIGNING_KEY"]

  @Option(help: "How long devices accept the signature (90days, 12h) or until when (2027-01-01T00:00:00Z).")
  var expires = "90days"

  func validate() throws { _ = try expiryDate() }

  func loadKey() throws -> ReleaseSigningKey? {
    guard let signKey else { return nil }
    do { return try ReleaseSigningKey(contentsOf: signKey) } catch { throw ValidationError("\(error)") }
  }

  func expiryDate(now: Date = Date()) throws -> Date {
    if let date = try? Date(expires, strategy: .iso8601) {
      guard date > now else { throw ValidationError("--expires \(expires) is in the past") }
      return date
    }
    do {
      return now + TimeInterval(try Period(expires).seconds)
    } catch {
      throw ValidationError("--expires: give a period (90days) or a UTC time (2027-01-01T00:00:00Z); \(error)")
    }
  }
}

extension Release {
  struct Sign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Sign a release's manifest on this machine and upload the signature (replacing an earlier one).",
      discussion: """
        The private key never leaves this machine: the manifest (package, version, handler, assets with sizes and \
        SHA-256, expiry) is read from the controller, signed here, and only the signature is sent. Sign again to \
        extend the expiry, or with --allow-downgrade to let a deployment created with --downgrade install it over a \
        newer version.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "PACKAGE@VERSION") var release: String
    @OptionGroup var signing: SigningOptions
    @Flag(help: "Let this release replace a newer version (a signed downgrade).") var allowDowngrade = false

    func validate() throws {
      guard signing.signKey != nil else {
        throw ValidationError("give the private key: --sign-key FILE (or $AIRLIFT_SIGNING_KEY)")
      }
    }

    func run() async throws {
      let (package, version) = try ReleaseName.parse(release)
      guard let signingKey = try signing.loadKey() else { return }
      let until = try signing.expiryDate()
      let signed = try await connection.withClient {
        try await $0.signRelease(
          package: package, version: version, key: signingKey, expires: until, downgrade: allowDowngrade)
      }
      if connection.json { return print(Output.json(signed)) }
      print("\(signed.package)@\(signed.version): " + Release.Show.signatureLine(signed))
    }
  }
}

extension Release.Show {
  static func signatureLine(_ release: API.Release) -> String {
    guard let signature = release.signature else {
      return
        "UNSIGNED: devices refuse it; sign it with `airlift release sign \(release.package)@\(release.version) --sign-key KEY`"
    }
    return "signed by key \(signature.key) until \(signature.expires)"
      + (signature.downgrade ? ", may replace newer versions (signed downgrade)" : "")
      + (signature.signedBy.map { ", uploaded by \($0)" } ?? "")
  }
}
