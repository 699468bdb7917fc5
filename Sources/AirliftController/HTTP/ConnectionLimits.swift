import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// How many HTTPS connections the controller holds at once, and how many of
/// them one address may have: a client that opens thousands of idle sockets
/// gets its share and no more, and the API, `/healthz` and device downloads
/// keep answering everybody else. Trusted proxies (which carry many
/// clients) only count toward the total.
final class ConnectionLimiter: Sendable {
  let total: Int
  let perAddress: Int
  let exempt: Set<String>
  private let counts = Mutex<(open: Int, byAddress: [String: Int], refused: Int)>((0, [:], 0))

  init(total: Int, perAddress: Int, exempt: Set<String>) {
    self.total = total
    self.perAddress = perAddress
    self.exempt = exempt
  }

  /// Takes a slot for a connection from `address`; false when the total or the address's share is used up.
  func admit(_ address: String) -> Bool {
    counts.withLock { counts in
      let mine = counts.byAddress[address, default: 0]
      guard counts.open < total, exempt.contains(address) || mine < perAddress else {
        counts.refused += 1
        return false
      }
      counts.open += 1
      counts.byAddress[address] = mine + 1
      return true
    }
  }

  func release(_ address: String) {
    counts.withLock { counts in
      counts.open -= 1
      let left = counts.byAddress[address, default: 1] - 1
      counts.byAddress[address] = left > 0 ? left : nil
    }
  }

  /// Connections open now, and refused since the start.
  var snapshot: (open: Int, refused: Int) { counts.withLock { ($0.open, $0.refused) } }
}

/// Admits each accepted connection through a `ConnectionLimiter` before
/// anything else runs on it (TLS included); a connection over the limit is
/// closed at once.
struct LimitedChannel<Base: ServerChildChannel>: ServerChildChannel {
  typealias Value = Base.Value
  let base: Base
  let limiter: ConnectionLimiter

  struct Refused: Error {}

  func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
    let address = channel.remoteAddress?.ipAddress ?? "unknown"
    guard limiter.admit(address) else {
      logger.debug("connection refused: limit reached", metadata: ["address": .string(address)])
      channel.close(promise: nil)
      return channel.eventLoop.makeFailedFuture(Refused())
    }
    channel.closeFuture.whenComplete { [limiter] _ in limiter.release(address) }
    return base.setup(channel: channel, logger: logger)
  }

  func handle(value: Value, logger: Logger) async {
    await base.handle(value: value, logger: logger)
  }
}

extension LimitedChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
  var responder: HTTPChannelHandler.Responder { base.responder }
}
