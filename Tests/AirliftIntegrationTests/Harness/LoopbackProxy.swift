import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on a loopback port, between the agent and the controller,
/// that a test can stall (nothing flows towards the client) or cut (every
/// connection closed), as a flaky field link would. TLS passes through it
/// untouched.
final class LoopbackProxy: Sendable {
  let port: Int
  private let target: Int
  /// Bytes per second towards the client; the proxy paces them so they are
  /// not all waiting in socket buffers when the test cuts or stalls.
  private let rate: Int
  /// What the proxy does by itself once one connection has sent this many bytes towards the client: the test
  /// says when in bytes, not in time, so a fast or a loaded machine cuts at the same point.
  private let trigger = Mutex<(action: Action, afterBytes: Int)?>(nil)

  enum Action: Sendable {
    /// That connection hangs (nothing more flows to the client, the TCP connection stays open); later
    /// connections flow: one stall, one retry.
    case stall
    /// Every open connection is closed, as a dropped link would.
    case cut
  }
  private let open = Mutex<[any Channel]>([])
  private let accepted = Atomic<Int>(0)
  private let server: Mutex<(any Channel)?> = Mutex(nil)

  private init(port: Int, target: Int, rate: Int) {
    self.port = port
    self.target = target
    self.rate = rate
  }

  /// Listens on a free port and forwards each connection to `target`,
  /// at most `rate` bytes per second towards the client.
  static func start(to target: Int, rate: Int = 1_000_000) async throws -> LoopbackProxy {
    let proxy = LoopbackProxy(port: try Loopback.freePort(), target: target, rate: rate)
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .bind(host: "127.0.0.1", port: proxy.port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    proxy.server.withLock { $0 = server.channel }
    Task {
      try? await withThrowingDiscardingTaskGroup { group in
        try await server.executeThenClose { clients in
          for try await client in clients {
            group.addTask { await proxy.forward(client) }
          }
        }
      }
    }
    return proxy
  }

  /// Connections accepted so far.
  var connections: Int { accepted.load(ordering: .relaxed) }

  /// Stalls that connection, or cuts every one, as soon as one connection has forwarded `afterBytes` towards
  /// the client; once.
  func on(_ action: Action, afterBytes: Int) { trigger.withLock { $0 = (action, afterBytes) } }

  /// Closes every open connection, as a dropped link would.
  func cutAll() {
    for channel in open.withLock({ $0 }) { channel.close(promise: nil) }
  }

  func stop() {
    cutAll()
    server.withLock { $0 }?.close(promise: nil)
  }

  private func forward(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
    accepted.add(1, ordering: .relaxed)
    let upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    do {
      upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: target) { channel in
          channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
          }
        }
    } catch {
      return
    }
    open.withLock { $0 += [client.channel, upstream.channel] }
    try? await client.executeThenClose { clientIn, clientOut in
      try await upstream.executeThenClose { upstreamIn, upstreamOut in
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask {
            for try await buffer in clientIn { try await upstreamOut.write(buffer) }
          }
          group.addTask {
            var forwarded = 0
            var hung = false
            for try await var buffer in upstreamIn {
              // Small slices at the paced rate: a cut or stall takes effect within ~16 KB.
              while buffer.readableBytes > 0, let slice = buffer.readSlice(length: min(buffer.readableBytes, 16 * 1024))
              {
                let due = self.trigger.withLock { trigger -> Action? in
                  guard let (action, afterBytes) = trigger, forwarded + slice.readableBytes > afterBytes else {
                    return nil
                  }
                  trigger = nil
                  return action
                }
                switch due {
                case .stall: hung = true
                case .cut:
                  self.cutAll()
                  return
                case nil: break
                }
                while hung { try await Task.sleep(for: .milliseconds(50)) }
                try await clientOut.write(slice)
                forwarded += slice.readableBytes
                try await Task.sleep(for: .seconds(Double(slice.readableBytes) / Double(self.rate)))
              }
            }
          }
          // Either side closing ends the connection.
          try await group.next()
          group.cancelAll()
        }
      }
    }
  }
}
