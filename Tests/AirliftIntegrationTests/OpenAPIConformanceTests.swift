import AirliftClient
import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The operations `docs/openapi.yaml` lists: path, method, documented statuses.
struct DocumentedOperation: CustomStringConvertible {
  var path: String
  var method: String
  var statuses: Set<Int>

  var description: String { "\(method.uppercased()) \(path)" }

  /// Reads the document's `paths:` section, written with two-space indents:
  /// paths at 2, methods at 4, response codes at 8.
  static func load(_ text: String) -> [DocumentedOperation] {
    var operations: [DocumentedOperation] = []
    var inPaths = false
    var path: String?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
      if line == "paths:" {
        inPaths = true
        continue
      }
      if inPaths, let first = line.first, first != " " { break }
      guard inPaths else { continue }
      if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
        path = String(line.dropFirst(2).dropLast())
      } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"),
        ["get:", "post:", "put:", "delete:"].contains(line.trimmingCharacters(in: .whitespaces))
      {
        operations.append(
          .init(path: path, method: String(line.trimmingCharacters(in: .whitespaces).dropLast()), statuses: []))
      } else if line.hasPrefix("        '"), !line.hasPrefix("         "), let code = Int(line.filter(\.isNumber)),
        !operations.isEmpty
      {
        operations[operations.count - 1].statuses.insert(code)
      }
    }
    return operations
  }
}

@Suite("REST API matches docs/openapi.yaml")
struct OpenAPIConformanceTests {
  @Test("every documented route and method answers, with a documented status and a JSON error body")
  func everyRouteAnswers() async throws {
    let document = try String(contentsOfFile: "\(Fleet.repository)/docs/openapi.yaml", encoding: .utf8)
    let operations = DocumentedOperation.load(document)
    #expect(operations.count >= 20)
    #expect(operations.allSatisfy { !$0.statuses.isEmpty })

    try await Fleet.with { fleet in
      let client = try #require(fleet.client)
      let bundle = try ReleaseBundle.make(in: fleet.root)
      let release = try await client.uploadRelease(package: "app", version: "1.0.0", file: bundle)
      _ = try await client.setTag(package: "app", tag: "stable", version: "1.0.0", locked: false)
      _ = try await client.createGroup("g1")
      _ = try await client.addToGroup("g1", devices: ["device-080"])
      let deployment = try await client.createDeployment(
        .init(package: "app", version: "1.0.0", target: .init(devices: ["device-081"]), allowUnknownDevices: true))
      let values = [
        "package": "app", "version": "1.0.0", "tag": "stable", "sha256": release.assets[0].sha256, "name": "g1",
        "device": "device-080", "command": "cmd-unknown", "asset": "bundle.tar.gz",
      ]
      let http = try fleet.httpClient()
      defer { _ = http.shutdown() }

      // Deletions last, so the other operations still find their objects.
      let ordered = operations.filter { $0.method != "delete" } + operations.filter { $0.method == "delete" }
      for operation in ordered {
        var path = operation.path
        for (key, value) in values { path = path.replacingOccurrences(of: "{\(key)}", with: value) }
        path = path.replacingOccurrences(
          of: "{id}", with: operation.path.hasPrefix("/api/v1/deployments") ? deployment.id : "device-080")
        var request = HTTPClientRequest(url: fleet.controllerURL + path)
        request.method = HTTPMethod(rawValue: operation.method.uppercased())
        let response = try await http.execute(request, timeout: requestTimeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        let status = Int(response.status.code)
        #expect(
          operation.statuses.contains(status),
          "\(operation) answered \(status), documented \(operation.statuses.sorted())")
        if status >= 400 {
          let error = try? JSONDecoder().decode(API.ErrorBody.self, from: Data(body.readableBytesView))
          #expect(error != nil, "\(operation): error without the JSON error body")
          // A 404 from a missing route has the generic code; documented
          // not-found answers name what is missing.
          #expect(
            error?.error.code != "not_found" || operation.path.hasPrefix("/artifacts"), "\(operation): no such route")
        }
      }

      // Hostile bodies on every route that takes one: a 4xx with the JSON error (or, where the body is
      // ignored, the usual answer), never a 5xx, and the controller keeps serving.
      let deep = String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)
      let huge = "{\"name\":\"" + String(repeating: "x", count: 3 << 20) + "\"}"
      let hostile = [
        "{", "[]", "\"text\"", "null", deep,
        #"{"package": 5, "version": [], "target": "all", "policy": 7, "devices": {}, "reason": [], "manifest": 3,"#
          + #" "locked": "yes", "window": 5, "signature": {"key": 1}, "unexpected": {"deep": [1, 2]}}"#,
      ]
      for operation in operations where ["post", "put"].contains(operation.method) && operation.path != "/api/v1/blobs"
      {
        var path = operation.path
        for (key, value) in values { path = path.replacingOccurrences(of: "{\(key)}", with: value) }
        path = path.replacingOccurrences(
          of: "{id}", with: operation.path.hasPrefix("/api/v1/deployments") ? deployment.id : "device-080")
        let decodesBody = ["/api/v1/releases", "/api/v1/deployments"].contains(operation.path)
        for body in hostile + (decodesBody ? [huge] : []) {
          var request = HTTPClientRequest(url: fleet.controllerURL + path)
          request.method = HTTPMethod(rawValue: operation.method.uppercased())
          request.headers.add(name: "Content-Type", value: "application/json")
          request.body = .bytes(ByteBuffer(string: body))
          let response = try await http.execute(request, timeout: requestTimeout)
          let answer = try await response.body.collect(upTo: 1 << 20)
          let status = Int(response.status.code)
          let shown = "\(operation) with \(body.prefix(40))…"
          #expect(status < 500, "\(shown) answered \(status)")
          if status >= 400 {
            #expect(
              (try? JSONDecoder().decode(API.ErrorBody.self, from: Data(answer.readableBytesView))) != nil,
              "\(shown): no JSON error body")
          }
          if body == huge { #expect(status == 413, "\(shown) answered \(status)") }
        }
      }
      #expect(await client.isHealthy())

      // And an undocumented route is indeed a generic 404.
      let missing = try await http.execute(
        HTTPClientRequest(url: fleet.controllerURL + "/api/v1/nothing-here"), timeout: requestTimeout)
      #expect(missing.status == .notFound)
    }
  }

  @Test(
    "a method a documented path lacks is 405 with the path's methods in Allow; a path parameter that cannot name anything is 400 naming it"
  )
  func methodsAndPathParameters() async throws {
    let document = try String(contentsOfFile: "\(Fleet.repository)/docs/openapi.yaml", encoding: .utf8)
    let operations = DocumentedOperation.load(document)
    try await Fleet.with { fleet in
      let http = try fleet.httpClient()
      defer { _ = http.shutdown() }
      let byPath = Dictionary(grouping: operations, by: \.path)
      for (path, documented) in byPath where !path.contains("{") {
        let methods = Set(documented.map { $0.method.uppercased() })
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "TRACE"] where !methods.contains(method) {
          var request = HTTPClientRequest(url: fleet.controllerURL + path)
          request.method = HTTPMethod(rawValue: method)
          let response = try await http.execute(request, timeout: requestTimeout)
          #expect(response.status == .methodNotAllowed, "\(method) \(path) answered \(response.status.code)")
          let allow = Set(
            (response.headers.first(name: "Allow") ?? "").split(separator: ",").map {
              $0.trimmingCharacters(in: .whitespaces)
            })
          #expect(allow == methods, "\(method) \(path): Allow is \(allow.sorted()), documented \(methods.sorted())")
        }
      }
      // A templated path too: DELETE on a release's manifest (GET only) names GET.
      var delete = HTTPClientRequest(url: fleet.controllerURL + "/api/v1/releases/app/1.0.0/manifest")
      delete.method = .DELETE
      let refused = try await http.execute(delete, timeout: requestTimeout)
      #expect(refused.status == .methodNotAllowed && refused.headers.first(name: "Allow") == "GET")

      for (path, named) in [
        ("/api/v1/packages/%C2%84/tags", "package name"), ("/api/v1/groups/-lab", "name"),
        ("/api/v1/flows/a%2Fb", "name"), ("/api/v1/releases/app/1.0/manifest", "version"),
        ("/api/v1/packages/app/tags", nil), ("/api/v1/audit?limit=0", "limit"), ("/api/v1/audit?limit=x", "limit"),
        ("/api/v1/releases?package=A", "package name"), ("/api/v1/devices?app=-x", "package name"),
        ("/api/v1/flows/f1?versions=some", "versions"),
      ] as [(String, String?)] {
        let response = try await http.execute(
          HTTPClientRequest(url: fleet.controllerURL + path), timeout: requestTimeout)
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        if let named {
          #expect(response.status == .badRequest && body.contains(named), "\(path): \(response.status.code) \(body)")
        } else {
          #expect(response.status == .ok, "\(path): \(response.status.code) \(body)")
        }
      }
    }
  }
}
