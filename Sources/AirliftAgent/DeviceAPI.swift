import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore

/// The controller's device routes for programs on the device (`airlift-agent
/// metadata`, `airlift-agent asset-url`): one HTTPS request with the
/// device's own certificate, no running agent needed.
public struct DeviceAPI: Sendable {
  let config: AgentConfig

  public init(config: AgentConfig) { self.config = config }

  /// A metadata document of a version (an SBOM, build information), as attached.
  public func metadata(package: String, version: String, name: String) async throws -> [UInt8] {
    try await get(
      "/api/v1/device/releases/\(package.urlPathSegment)/\(version.urlPathSegment)/metadata/\(name.urlPathSegment)")
  }

  /// A short-lived URL of one asset of the version `tag` names now, and that version.
  public func assetLink(package: String, tag: String, asset: String) async throws -> API.AssetLink {
    let body = try await get(
      "/api/v1/device/assets/\(package.urlPathSegment)/\(tag.urlPathSegment)/\(asset.urlPathSegment)/url")
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    do {
      return try decoder.decode(API.AssetLink.self, from: Data(body))
    } catch {
      throw AgentError.controller(reason: "the controller's asset link answer is not understood: \(error)")
    }
  }

  /// What this device could run: its deployment, its channels' tags, its distribution policies' offers.
  public func availableUpdates() async throws -> AvailableUpdates {
    let body = try await get("/api/v1/device/updates")
    do {
      return try Wire.decode(AvailableUpdates.self, from: body, topic: "GET /api/v1/device/updates")
    } catch {
      throw AgentError.controller(reason: "the controller's answer about updates is not understood: \(error)")
    }
  }

  /// GETs a device route; a non-2xx answer is an error with the controller's message.
  func get(_ path: String) async throws -> [UInt8] {
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: try Agent.httpConfiguration(config))
    defer { _ = http.shutdown() }
    let url = config.controllerURL + path
    let response: HTTPClientResponse
    let body: ByteBuffer
    do {
      response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
      body = try await response.body.collect(upTo: 8 << 20)
    } catch {
      throw AgentError.controller(reason: "GET \(url): \(error)")
    }
    guard (200..<300).contains(response.status.code) else {
      let message =
        (try? JSONDecoder().decode(API.ErrorBody.self, from: Data(body.readableBytesView)))?.error.message
        ?? String(buffer: body).prefix(300).description
      throw AgentError.controller(reason: "GET \(url): HTTP \(response.status.code): \(message)")
    }
    return Array(body.readableBytesView)
  }
}
