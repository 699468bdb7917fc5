import Foundation
import Hummingbird
import Mustache
import NIOCore

/// Renders the dashboard's templates into HTML responses with the headers
/// every page carries (a content security policy that allows no inline or
/// foreign script, no framing, no caching).
struct DashboardRenderer: Sendable {
  let library: MustacheLibrary

  init() throws {
    var library = MustacheLibrary()
    for (name, text) in DashboardTemplates.all { try library.register(text, named: name) }
    self.library = library
  }

  /// Headers of every dashboard response.
  static let securityHeaders: HTTPFields = [
    .contentSecurityPolicy:
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
      + "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    .xContentTypeOptions: "nosniff",
    .referrerPolicyHeader: "no-referrer",
    .xFrameOptions: "DENY",
    .cacheControl: "no-store",
  ]

  /// A template rendered with `object`; an unknown template name is a programming error, shown as such.
  func render(_ template: String, _ object: Any) -> String {
    library.render(object, withTemplate: template) ?? "<p>template \(template) is missing</p>"
  }

  /// A full page.
  func page(
    _ template: String, layout: DashboardLayout, view: Any, status: HTTPResponse.Status = .ok
  ) -> Response {
    html(render(template, DashboardPage(layout, view: view)), status: status)
  }

  func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    var headers = Self.securityHeaders
    headers[.contentType] = "text/html; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
  }

  /// A static asset (stylesheet or script) from memory.
  static func asset(_ text: String, type: String) -> Response {
    var headers = securityHeaders
    headers[.contentType] = type
    headers[.cacheControl] = "max-age=300"
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
  }

  /// A 303 to `location` (after a form post, or to the login page).
  static func redirect(_ location: String) -> Response {
    var headers = securityHeaders
    headers[.location] = location
    return Response(status: .seeOther, headers: headers)
  }
}

extension HTTPFields.Element.Name {
  static let xContentTypeOptions = Self("X-Content-Type-Options")!
  static let xFrameOptions = Self("X-Frame-Options")!
  static let referrerPolicyHeader = Self("Referrer-Policy")!
  /// Sent by the dashboard's script on REST writes: a cross-site form cannot set it.
  static let airliftUI = Self("X-Airlift-UI")!
}
