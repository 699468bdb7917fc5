import AirliftCore
import Foundation
import Logging
import NIOCore
import NIOPosix

/// A request a local program sends on the event socket, one JSON line:
/// `{"command":"apply"}` (or, having applied the update itself,
/// `{"command":"apply","result":"ok"}` / `"failed"` with a `message`),
/// `{"command":"fetch"}`, `{"command":"status"}`, or a telemetry event
/// `{"command":"event","kind":"temperature","data":{"c":71}}`.
public struct LocalRequest: Codable, Sendable, Equatable {
  public var command: String
  /// For `event`: what it is about, and its JSON.
  public var kind: String?
  public var data: JSONValue?
  /// For `apply`: how a local program's own install went (`ok` or `failed`), and why.
  public var result: String?
  public var message: String?

  public init(
    command: String, kind: String? = nil, data: JSONValue? = nil, result: String? = nil, message: String? = nil
  ) {
    self.command = command
    self.kind = kind
    self.data = data
    self.result = result
    self.message = message
  }
}

/// The agent's answer to a `LocalRequest`, one JSON line among the events:
/// `{"v":1,"event":"reply","command":"apply","ok":true,"message":"..."}`.
public struct LocalReply: Codable, Sendable, Equatable {
  public var v = Wire.version
  public var event = "reply"
  public var command: String
  public var ok: Bool
  public var message: String
  /// The agent's status, in the reply to `status`.
  public var status: AgentStatus?
  /// The update the reply is about (`fetch`, `apply`), and its `ready` event when it waits downloaded.
  public var deployment: String?
  public var ready: DeviceUpdateEvent?
  /// In the reply to `start`: each installed app and whether it started.
  public var apps: [ComposeHandler.StartedApp]?

  public init(
    command: String, ok: Bool, message: String, status: AgentStatus? = nil, deployment: String? = nil,
    ready: DeviceUpdateEvent? = nil
  ) {
    self.deployment = deployment
    self.ready = ready
    self.command = command
    self.ok = ok
    self.message = message
    self.status = status
  }
}

/// The agent's local Unix socket: every client gets each `device:update`
/// event as one JSON line, and may send requests (`apply`) as JSON lines.
/// Mode 0660, so the programs of one group may follow and steer updates
/// without MQTT.
struct EventSocketServer: Sendable {
  let path: String
  let hub: EventHub
  let logger: Logger
  let handle: @Sendable (LocalRequest) async -> LocalReply

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
            try? await client.executeThenClose { inbound, outbound in
              try await withThrowingTaskGroup(of: Void.self) { connection in
                connection.addTask {
                  for await event in events {
                    try await outbound.write(ByteBuffer(bytes: Wire.encode(event) + [UInt8(ascii: "\n")]))
                  }
                }
                connection.addTask {
                  for try await line in JSONLines(inbound) {
                    let reply: LocalReply
                    if let request = try? JSONDecoder().decode(LocalRequest.self, from: Data(line.utf8)) {
                      reply = await handle(request)
                    } else {
                      reply = LocalReply(
                        command: "", ok: false, message: "not a request; send {\"command\":\"apply\"} as one line")
                    }
                    try await outbound.write(ByteBuffer(bytes: Wire.encode(reply) + [UInt8(ascii: "\n")]))
                  }
                }
                // The client hung up: stop both halves.
                try await connection.next()
                connection.cancelAll()
              }
            }
          }
        }
      }
    }
  }
}

/// Splits a byte stream into lines.
struct JSONLines<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
  typealias Element = String
  let base: Base

  init(_ base: Base) { self.base = base }

  struct AsyncIterator: AsyncIteratorProtocol {
    var base: Base.AsyncIterator
    var pending: [UInt8] = []

    mutating func next() async throws -> String? {
      while true {
        if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
          defer { pending.removeSubrange(...newline) }
          return String(decoding: pending[..<newline], as: UTF8.self)
        }
        guard let buffer = try await base.next() else { return nil }
        pending += buffer.readableBytesView
      }
    }
  }

  func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator()) }
}

/// Talks to the event socket: for `airlift-agent watch` and `apply`, and tests.
public enum EventSocketClient {
  /// The JSON lines the agent sends, until it closes the socket.
  public static func lines(path: String) async throws -> AsyncThrowingStream<String, any Error> {
    let channel = try await connect(path)
    return AsyncThrowingStream { continuation in
      let task = Task {
        do {
          try await channel.executeThenClose { inbound, _ in
            for try await line in JSONLines(inbound) { continuation.yield(line) }
          }
          continuation.finish()
        } catch {
          continuation.finish(throwing: error)
        }
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }

  /// Sends one request and returns the agent's reply (events in between are skipped).
  public static func send(_ request: LocalRequest, path: String) async throws -> LocalReply {
    let channel = try await connect(path)
    return try await channel.executeThenClose { inbound, outbound in
      try await outbound.write(ByteBuffer(bytes: Array(try JSONEncoder().encode(request)) + [UInt8(ascii: "\n")]))
      for try await line in JSONLines(inbound) {
        if let reply = try? Wire.decode(LocalReply.self, from: Array(line.utf8), topic: path), reply.event == "reply" {
          return reply
        }
      }
      throw AgentError.config(path: path, reason: "the agent closed the socket without answering")
    }
  }

  private static func connect(_ path: String) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(unixDomainSocketPath: path) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
  }
}
