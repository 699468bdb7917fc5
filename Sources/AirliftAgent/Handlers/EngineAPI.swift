import AirliftCore
import AsyncHTTPClient
import Foundation
import NIOCore

/// The container engine's HTTP API on its unix socket, for what the CLI
/// cannot give without a terminal: a pull's progress in bytes. Everything
/// else goes through the docker CLI (see `ComposeEngine`).
struct EngineAPI: Sendable {
  let socketPath: String

  /// The engine at `dockerHost` (`unix:///path`); nil: `DOCKER_HOST`, else
  /// the default socket. A TCP engine has no socket here: nil.
  init?(dockerHost: String?) {
    let host =
      dockerHost ?? ProcessInfo.processInfo.environment["DOCKER_HOST"] ?? "unix:///var/run/docker.sock"
    guard host.hasPrefix("unix://"), host.count > "unix://".count else { return nil }
    socketPath = String(host.dropFirst("unix://".count))
  }

  /// Pulls `reference` (`registry/repo@sha256:…` or a tag); the engine
  /// fetches only the layers it lacks. `progress` hears each change of the
  /// byte count; the result is the final count.
  func pull(
    _ reference: String, timeout: Duration, progress: @escaping @Sendable (ImagePullProgress) -> Void
  ) async throws -> ImagePullProgress {
    let failure = { (reason: String, retryable: Bool) in
      AgentError.download(
        url: "\(reference) (through the engine at \(socketPath))", reason: reason, retryable: retryable)
    }
    var query = "fromImage=\(Self.escape(reference))"
    if let at = reference.firstIndex(of: "@") {
      query =
        "fromImage=\(Self.escape(String(reference[..<at])))&tag=\(Self.escape(String(reference[reference.index(after: at)...])))"
    }
    guard let url = URL(httpURLWithSocketPath: socketPath, uri: "/images/create?\(query)") else {
      throw failure("cannot address the engine socket", false)
    }
    var request = HTTPClientRequest(url: url.absoluteString)
    request.method = .POST
    // The engine refuses a request without one; over a socket any name does.
    request.headers.add(name: "Host", value: "docker")
    let response: HTTPClientResponse
    do {
      response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
    } catch {
      throw failure("the engine did not answer: \(error)", true)
    }
    guard response.status == .ok else {
      let body = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
      let message = (try? JSONDecoder().decode([String: String].self, from: Data(body.utf8)))?["message"] ?? body
      // 404: no such image or digest; 5xx: often the registry is unreachable, which may pass.
      throw failure("the engine answered \(response.status.code): \(message)", response.status.code >= 500)
    }
    var tally = ImagePullProgress()
    var pending: [UInt8] = []
    do {
      for try await chunk in response.body {
        pending += chunk.readableBytesView
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
          let line = String(decoding: pending[..<newline], as: UTF8.self)
          pending.removeSubrange(...newline)
          if try tally.take(line: line) { progress(tally) }
        }
      }
      if try tally.take(line: String(decoding: pending, as: UTF8.self)) { progress(tally) }
    } catch let error as AirliftCoreError {
      throw failure(error.description, true)
    } catch {
      throw failure("the engine's answer broke off: \(error)", true)
    }
    return tally
  }

  private static func escape(_ value: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
  }
}

extension Duration {
  fileprivate var nanoseconds: Int64 {
    components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
  }
}
