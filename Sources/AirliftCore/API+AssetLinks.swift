import Foundation

extension API {
  /// `GET /api/v1/device/assets/{package}/{tag}/{asset}/url` (a device
  /// certificate): a short-lived URL of one asset of the version a tag
  /// names now, for a script on the device to fetch with curl.
  public struct AssetLink: Codable, Sendable, Equatable {
    public var url: String
    public var package: String
    public var tag: String
    /// The version the tag resolved to.
    public var version: String
    public var asset: String
    public var sha256: String
    public var size: Int64
    public var expires: Date

    public init(
      url: String, package: String, tag: String, version: String, asset: String, sha256: String, size: Int64,
      expires: Date
    ) {
      self.url = url
      self.package = package
      self.tag = tag
      self.version = version
      self.asset = asset
      self.sha256 = sha256
      self.size = size
      self.expires = expires
    }
  }
}
