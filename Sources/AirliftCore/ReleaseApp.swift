/// One containerized app of a `compose` release: its name on the device,
/// its own version, the asset that holds its bundle (`docker-compose.yml`,
/// files beside it, and image archives under `images/`), and every image
/// it runs, so the device verifies images too, not only the bundle.
public struct ReleaseApp: Codable, Sendable, Equatable {
  /// An image the app runs: what its compose file calls it, and its image
  /// id (`sha256:` + the digest of the image's config), which the device
  /// checks after loading it and uses to skip images it already has.
  public struct Image: Codable, Sendable, Equatable {
    public var reference: String
    public var id: String

    public init(reference: String, id: String) {
      self.reference = reference
      self.id = id
    }
  }

  public var name: String
  public var version: String
  public var asset: String
  public var images: [Image]

  public init(name: String, version: String, asset: String, images: [Image]) {
    self.name = name
    self.version = version
    self.asset = asset
    self.images = images
  }

  /// Names that are safe as a Compose project, a folder and a manifest word.
  public func validate() throws(AirliftCoreError) {
    guard Self.isAppName(name) else {
      throw .invalidAppField(
        kind: "app", value: name, reason: "use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit")
    }
    _ = try SemanticVersion(version)
    try Names.validateAssetName(asset)
    for image in images {
      guard Self.isImageID(image.id) else {
        throw .invalidAppField(
          kind: "image id", value: image.id, reason: "expected sha256: and 64 lowercase hex digits")
      }
      guard Self.isImageReference(image.reference) else {
        throw .invalidAppField(
          kind: "image reference", value: image.reference,
          reason: "expected a Docker reference such as registry:5000/app/web:1.2 or app/web@sha256:…")
      }
    }
  }

  static func isAppName(_ name: String) -> Bool {
    let scalars = Array(name.unicodeScalars)
    guard (1...63).contains(scalars.count), let first = scalars.first, isLowerAlnum(first) else { return false }
    return scalars.allSatisfy { isLowerAlnum($0) || $0 == "-" || $0 == "_" }
  }

  static func isImageID(_ id: String) -> Bool {
    guard id.hasPrefix("sha256:") else { return false }
    let hex = id.dropFirst(7).unicodeScalars
    return hex.count == 64 && hex.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
  }

  static func isImageReference(_ reference: String) -> Bool {
    let scalars = Array(reference.unicodeScalars)
    guard (1...255).contains(scalars.count), let first = scalars.first, isLowerAlnum(first) else { return false }
    return scalars.allSatisfy { isLowerAlnum($0) || "._/:@-".unicodeScalars.contains($0) || ("A"..."Z").contains($0) }
  }

  private static func isLowerAlnum(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("0"..."9").contains(s) }
}
