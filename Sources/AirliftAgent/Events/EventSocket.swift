import AirliftCore
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The agent's local Unix socket: every client gets each `device:update`
/// event as one JSON line. Mode 0660, so a group of local programs may
/// follow updates without MQTT.
struct EventSocketServer: Sendable {
  let path: String
  let hub: EventHub
  let logger: Logger

  func run() async throws {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.backlog, value: 16)
      .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    try FileManager.default.setAttributes([.posixPermissions: 0o660], ofItemAtPath: path)
    logger.info("device:update events on \(path)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try await withThrowingDiscardingTaskGroup { group in
      try await server.executeThenClose { clients in
        for try await client in clients {
          let events = hub.subscribe()
          group.addTask {
            try? await client.executeThenClose { _, outbound in
              for await event in events {
                try await outbound.write(ByteBuffer(bytes: Wire.encode(event) + [UInt8(ascii: "\n")]))
              }
            }
          }
        }
      }
    }
  }
}

/// Reads the event socket: for `airlift-agent watch` and tests.
public enum EventSocketClient {
  /// The JSON lines the agent sends, until it closes the socket.
  public static func lines(path: String) async throws -> AsyncThrowingStream<String, any Error> {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(unixDomainSocketPath: path) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    return AsyncThrowingStream { continuation in
      let task = Task {
        do {
          try await channel.executeThenClose { inbound, _ in
            var pending: [UInt8] = []
            for try await buffer in inbound {
              pending += buffer.readableBytesView
              while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
              }
            }
          }
          continuation.finish()
        } catch {
          continuation.finish(throwing: error)
        }
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }
}
