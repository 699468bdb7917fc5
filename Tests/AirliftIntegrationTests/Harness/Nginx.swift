import Foundation

/// Debian's nginx on a loopback port, in the foreground, with its files
/// under the test's folder; the caller writes its `server` block.
final class Nginx: @unchecked Sendable {
  let port: Int
  let root: String
  private let process: ChildProcess

  private init(port: Int, root: String, process: ChildProcess) {
    self.port = port
    self.root = root
    self.process = process
  }

  var url: String { "https://127.0.0.1:\(port)" }

  /// Starts nginx with `server(port)` as its only server block; its logs are in `FOLDER/NAME/`.
  static func start(in folder: String, name: String, server: (Int) -> String) async throws -> Nginx {
    let port = try Loopback.freePort()
    let root = "\(folder)/\(name)"
    try FileManager.default.createDirectory(atPath: "\(root)/tmp", withIntermediateDirectories: true)
    let config = "\(root)/nginx.conf"
    try """
    daemon off;
    master_process off;
    pid \(root)/nginx.pid;
    error_log \(root)/error.log;
    events { worker_connections 256; }
    http {
      access_log \(root)/access.log;
      client_body_temp_path \(root)/tmp/body;
      proxy_temp_path \(root)/tmp/proxy;
      fastcgi_temp_path \(root)/tmp/fastcgi;
      uwsgi_temp_path \(root)/tmp/uwsgi;
      scgi_temp_path \(root)/tmp/scgi;
    \(server(port))
    }

    """.write(toFile: config, atomically: true, encoding: .utf8)
    let process = try Fleet.startBackground(
      "/usr/sbin/nginx", ["-c", config, "-p", root, "-e", "\(root)/error.log"], log: "\(root)/stdout.log")
    let nginx = Nginx(port: port, root: root, process: process)
    do {
      try await eventually("nginx on port \(port)", within: 30) { Loopback.isListening(port) }
    } catch {
      nginx.stop()
      throw error
    }
    return nginx
  }

  /// SIGKILL: a child of the test process does not see SIGTERM (its signal mask), and nginx keeps nothing.
  func stop() {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}

/// nginx as an external origin for asset links: HTTPS with the
/// controller's certificate, its `secure_link` module checking each link
/// with the shared secret, files served from the controller's blob folder.
enum SecureLinkOrigin {
  static func start(in folder: String, certs: String, blobs: String, secret: String) async throws -> Nginx {
    try await Nginx.start(in: folder, name: "nginx") { port in
      """
        server {
          listen 127.0.0.1:\(port) ssl;
          ssl_certificate \(certs)/controller.crt;
          ssl_certificate_key \(certs)/controller.key;
          location ~ "^/links/([0-9a-f]{64})/[^/]+$" {
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri \(secret)";
            if ($secure_link = "") { return 403; }
            if ($secure_link = "0") { return 410; }
            default_type application/octet-stream;
            alias \(blobs)/$1;
          }
        }
      """
    }
  }
}

/// nginx in front of a controller, as docs/scale.md sets it up: it
/// terminates the callers' TLS, verifies their client certificates against
/// the fleet CA, and passes each on in `X-Client-Cert` to the controller,
/// connecting from 127.0.0.2 (the address the controller trusts).
enum TLSProxy {
  static let address = "127.0.0.2"

  static func start(in folder: String, certs: String, controllerPort: Int) async throws -> Nginx {
    try await start(in: folder, certs: certs, controllerPorts: [controllerPort])
  }

  /// Balances over several controllers; a request that cannot reach one (it was killed) goes to the next.
  static func start(in folder: String, certs: String, controllerPorts: [Int]) async throws -> Nginx {
    try await Nginx.start(in: folder, name: "proxy") { port in
      """
        upstream controllers {
          \(controllerPorts.map { "server 127.0.0.1:\($0) max_fails=1 fail_timeout=10s;" }.joined(separator: "\n    "))
        }
        server {
          listen 127.0.0.1:\(port) ssl;
          ssl_certificate \(certs)/controller.crt;
          ssl_certificate_key \(certs)/controller.key;
          ssl_client_certificate \(certs)/ca.crt;
          ssl_verify_client on;
          client_max_body_size 0;
          location / {
            proxy_pass https://controllers;
            proxy_next_upstream error timeout;
            proxy_bind \(address);
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_ssl_trusted_certificate \(certs)/ca.crt;
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            proxy_set_header Host $host;
            proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
            proxy_set_header X-Client-Verify $ssl_client_verify;
          }
        }
      """
    }
  }
}
