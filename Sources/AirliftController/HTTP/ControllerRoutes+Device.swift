import AirliftCore
import Foundation
import Hummingbird
import NIOCore
import _NIOFileSystem

/// What a device asks over HTTPS with its certificate: its desired
/// deployment, which of its reports are stored (and the missing ones), and
/// artifacts by digest.
extension ControllerRoutes {
  /// Which of the calling device's report numbers in (after, through] are
  /// stored, so it can send again what never arrived (a broker that lost a
  /// message, a controller that was not subscribed yet).
  @Sendable func ownStatusCursor(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    let query = request.formQuery
    guard let after = query.get("after").flatMap({ Int64($0) }),
      let through = query.get("through").flatMap({ Int64($0) }),
      after >= 0, through >= after, through - after <= 10000
    else {
      throw APIError(
        status: .badRequest, code: "invalid_request",
        message: "give after=A&through=B, whole numbers with 0 <= A <= B <= A + 10000")
    }
    return try await Self.json(
      StoredSeqs(seqs: try store.storedStatusSeqs(device: device, after: after, through: through)), context: context)
  }

  /// Reports a device sends again over HTTPS; each is stored once, by its number.
  @Sendable func ownStatusReports(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    let buffer = try await request.body.collect(upTo: 4 << 20)
    let batch = try Wire.decode(StatusBatch.self, from: Array(buffer: buffer), topic: "POST /api/v1/device/status")
    let seqs = batch.reports.compactMap(\.seq)
    guard seqs.count == batch.reports.count, let low = seqs.min(), let high = seqs.max() else {
      throw APIError(
        status: .badRequest, code: "invalid_request", message: "send at least one report, each with its seq")
    }
    for (index, report) in batch.reports.enumerated() {
      guard report.v == Wire.version else {
        throw APIError(
          status: .badRequest, code: "invalid_request",
          message: "report \(index + 1): wire version \(report.v), this controller reads \(Wire.version)")
      }
      do {
        try report.validate()
      } catch {
        throw APIError(status: .badRequest, code: "out_of_range", message: "report \(index + 1): \(error)")
      }
    }
    let unknown = try await store.recordStatuses(batch.reports.map { (device, $0) })
    for (_, report) in unknown {
      context.logger.warning("status for unknown deployment '\(report.deployment)' from \(device); kept")
    }
    return try await Self.json(
      StoredSeqs(seqs: try store.storedStatusSeqs(device: device, after: low - 1, through: high)), context: context)
  }

  /// `GET /api/v1/device/deployment`: the calling device's desired
  /// deployment (identity from its certificate), or 204 when it has none.
  @Sendable func ownDeployment(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    let device = try Self.requireDevice(context)
    guard let notice = try await deployments.notice(for: device) else { return Response(status: .noContent) }
    return Response(
      status: .ok, headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: Wire.encode(notice))))
  }

  // MARK: Artifacts

  /// `GET /artifacts/{sha256}` with `Range` support (206), streamed from disk.
  @Sendable func artifact(_ request: Request, context: ControllerRequestContext) async throws -> Response {
    if case .enrollment = context.identity {
      throw APIError(status: .forbidden, code: "forbidden", message: "a bootstrap token may only enroll")
    }
    let digest = try context.pathParameter("sha256")
    try Names.validateDigest(digest)
    if case .device(let device) = context.identity { try await requireDeviceAccess(device, toBlob: digest) }
    if links.updates {
      // The bytes come from the origin: a fresh link each time, so a retry or a resumed download never holds
      // an expired one. The request was authenticated here; the origin only checks the link.
      guard try await store.blobIsReleased(sha256: digest) else {
        throw APIError(status: .notFound, code: "not_found", message: "no released artifact with SHA-256 \(digest)")
      }
      metrics.artifactRedirect()
      let location = links.link(sha256: digest, name: "artifact").url
      return Response(status: .temporaryRedirect, headers: [.location: location, .cacheControl: "no-store"])
    }
    return try await serveBlob(digest, request: request, context: context)
  }

  /// Several ranges of a file in one `multipart/byteranges` answer (RFC 9110 §14.6), streamed from disk: what a
  /// device's delta update asks for.
  static func multipartRanges(
    _ ranges: [ClosedRange<Int64>], of path: String, size: Int64, headers: HTTPFields,
    count: (ResponseBody) -> ResponseBody
  ) -> Response {
    let boundary = "airlift-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
    let parts = ranges.map { range in
      (
        "--\(boundary)\r\nContent-Type: application/octet-stream\r\n"
          + "Content-Range: bytes \(range.lowerBound)-\(range.upperBound)/\(size)\r\n\r\n", range
      )
    }
    let closing = "\r\n--\(boundary)--\r\n"
    // Each part after the first starts on a line of its own.
    let length =
      parts.enumerated().reduce(0) { sum, part in
        sum + (part.offset > 0 ? 2 : 0) + part.element.0.utf8.count + Int(part.element.1.count)
      } + closing.utf8.count
    var headers = headers
    headers[.contentType] = "multipart/byteranges; boundary=\(boundary)"
    headers[.contentLength] = "\(length)"
    let body = ResponseBody(contentLength: length) { writer in
      try await FileSystem.shared.withFileHandle(forReadingAt: .init(path)) { file in
        for (number, (head, range)) in parts.enumerated() {
          try await writer.write(ByteBuffer(string: (number > 0 ? "\r\n" : "") + head))
          for try await chunk in file.readChunks(in: range, chunkLength: .kibibytes(128)) {
            try await writer.write(chunk)
          }
        }
        try await writer.write(ByteBuffer(string: closing))
      }
      try await writer.finish(nil)
    }
    return Response(status: .partialContent, headers: headers, body: count(body))
  }

  /// A released blob, whole or the `Range` asked for (206), streamed from disk.
  func serveBlob(_ digest: String, request: Request, context: ControllerRequestContext) async throws -> Response {
    let path = blobs.path(sha256: digest)
    guard try await store.blobIsReleased(sha256: digest),
      let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let size = (attributes[.size] as? NSNumber)?.int64Value
    else {
      throw APIError(status: .notFound, code: "not_found", message: "no released artifact with SHA-256 \(digest)")
    }
    var headers: HTTPFields = [.acceptRanges: "bytes", .contentType: "application/octet-stream"]
    let ranges: [ClosedRange<Int64>]?
    do {
      ranges = try request.headers[.range].flatMap { header throws(AirliftCoreError) in
        try ByteRange.ranges(header, size: size)
      }
    } catch {
      headers[.contentRange] = "bytes */\(size)"
      return Response(status: .rangeNotSatisfiable, headers: headers)
    }
    if let ranges, ranges.count > 1 {
      metrics.artifactRequest(range: true)
      return Self.multipartRanges(ranges, of: path, size: size, headers: headers, count: counted)
    }
    if let range = ranges?.first {
      headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
      headers[.contentLength] = "\(range.count)"
      let body = try await FileIO().loadFile(
        path: path, range: Int(range.lowerBound)...Int(range.upperBound), context: context)
      metrics.artifactRequest(range: true)
      return Response(status: .partialContent, headers: headers, body: counted(body))
    }
    headers[.contentLength] = "\(size)"
    let body = try await FileIO().loadFile(path: path, context: context)
    metrics.artifactRequest(range: false)
    return Response(status: .ok, headers: headers, body: counted(body))
  }

  /// Counts the bytes of `body` as they are handed to the connection.
  private func counted(_ body: ResponseBody) -> ResponseBody {
    body.map { [metrics] buffer in
      metrics.sent(buffer.readableBytes)
      return buffer
    }
  }

  /// The calling device, or a 403 for anyone else.
  static func requireDevice(_ context: ControllerRequestContext) throws -> DeviceID {
    guard case .device(let device) = context.identity else {
      throw APIError(status: .forbidden, code: "forbidden", message: "only a device certificate can use /api/v1/device")
    }
    return device
  }
}
