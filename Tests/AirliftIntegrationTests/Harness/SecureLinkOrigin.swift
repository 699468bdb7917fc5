import Foundation

/// Debian's nginx on a loopback port as an external origin for asset
/// links: HTTPS with the controller's certificate, its `secure_link`
/// module checking each link with the shared secret, files served from the
/// controller's blob folder.
final class SecureLinkOrigin: @unchecked Sendable {
  let port: Int
  private let process: Process

  private init(port: Int, process: Process) {
    self.port = port
    self.process = process
  }

  var url: String { "https://127.0.0.1:\(port)" }

  static func start(in folder: String, certs: String, blobs: String, secret: String) async throws -> SecureLinkOrigin {
    let port = try Loopback.freePort()
    let root = "\(folder)/nginx"
    try FileManager.default.createDirectory(atPath: "\(root)/tmp", withIntermediateDirectories: true)
    let config = "\(root)/nginx.conf"
    try """
    daemon off;
    master_process off;
    pid \(root)/nginx.pid;
    error_log \(root)/error.log;
    events { worker_connections 64; }
    http {
      access_log \(root)/access.log;
      client_body_temp_path \(root)/tmp/body;
      proxy_temp_path \(root)/tmp/proxy;
      fastcgi_temp_path \(root)/tmp/fastcgi;
      uwsgi_temp_path \(root)/tmp/uwsgi;
      scgi_temp_path \(root)/tmp/scgi;
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
    }

    """.write(toFile: config, atomically: true, encoding: .utf8)
    let process = try Fleet.startBackground(
      "/usr/sbin/nginx", ["-c", config, "-p", root, "-e", "\(root)/error.log"], log: "\(root)/stdout.log")
    let origin = SecureLinkOrigin(port: port, process: process)
    do {
      try await eventually("nginx on port \(port)", within: 30) { Loopback.isListening(port) }
    } catch {
      origin.stop()
      throw error
    }
    return origin
  }

  /// SIGKILL: a child of the test process does not see SIGTERM (its signal mask), and nginx keeps nothing.
  func stop() {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}
