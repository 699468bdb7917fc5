import CPaho
import Synchronization

/// Paho requests as awaitable calls: each request's completion reaches Swift
/// through the callback registry.
extension MQTTClient {
  /// Starts a Paho request whose callbacks complete through the registry, and
  /// waits for it. `start` returns Paho's immediate return code. Cancelling
  /// the waiting task ends the wait (the request itself may still complete).
  func perform(_ start: (UnsafeMutableRawPointer?) -> Int32) async -> PahoOutcome {
    let request = RequestID()
    return await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let id = CallbackRegistry.shared.addPending(owner: contextID, continuation)
        request.set(id)
        if Task.isCancelled {
          CallbackRegistry.shared.complete(id: id, Self.cancelled)
          return
        }
        let rc = start(UnsafeMutableRawPointer(bitPattern: id))
        if rc != MQTTASYNC_SUCCESS {
          CallbackRegistry.shared.complete(
            id: id, .failure(code: Int(rc), reasonCode: 0, message: Self.describe(code: Int(rc))))
        }
      }
    } onCancel: {
      if let id = request.get() { CallbackRegistry.shared.complete(id: id, Self.cancelled) }
    }
  }

  static let cancelled = PahoOutcome.failure(code: -99, reasonCode: 0, message: "cancelled while waiting")

  /// The registry id of a request, shared with its cancellation handler.
  final class RequestID: Sendable {
    private let value = Mutex<Int?>(nil)
    func set(_ id: Int) { value.withLock { $0 = id } }
    func get() -> Int? { value.withLock { $0 } }
  }
}

// Completion callbacks for every Paho request; `context` is the request's
// key in the registry.
func pahoSuccess(_ context: UnsafeMutableRawPointer?, _ response: UnsafeMutablePointer<MQTTAsync_successData5>?) {
  CallbackRegistry.shared.complete(context, .success(reasonCode: Int(response?.pointee.reasonCode.rawValue ?? 0)))
}

func pahoFailure(_ context: UnsafeMutableRawPointer?, _ response: UnsafeMutablePointer<MQTTAsync_failureData5>?) {
  let code = Int(response?.pointee.code ?? -1)
  let reasonCode = Int(response?.pointee.reasonCode.rawValue ?? 0)
  let message = response?.pointee.message.map { String(cString: $0) } ?? ""
  CallbackRegistry.shared.complete(context, .failure(code: code, reasonCode: reasonCode, message: message))
}
