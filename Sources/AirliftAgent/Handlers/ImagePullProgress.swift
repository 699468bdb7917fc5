import AirliftCore
import Foundation

/// The bytes an image pull has transferred, read from the container
/// engine's progress stream (`POST /images/create`: one JSON object per
/// line, per layer: "Pulling fs layer", "Downloading" with current/total,
/// "Download complete", "Already exists", … or an error). Layers the
/// engine already has never count, so the figure is what travelled.
struct ImagePullProgress: Sendable {
  /// Layer id → bytes received and the layer's size.
  private var layers: [String: (current: Int64, total: Int64)] = [:]
  /// The layers the engine had already.
  private(set) var reused: Set<String> = []
  /// The engine's last status line ("Status: Downloaded newer image for …").
  private(set) var lastStatus: String?

  init() {}

  /// Bytes received so far, over all layers.
  var bytes: Int64 { layers.values.reduce(0) { $0 + $1.current } }
  /// The size of the layers being fetched, as far as the engine has said.
  var total: Int64 { layers.values.reduce(0) { $0 + max($1.total, $1.current) } }

  private struct Message: Decodable {
    struct Detail: Decodable {
      var current: Int64?
      var total: Int64?
    }
    struct ErrorDetail: Decodable { var message: String? }
    var status: String?
    var id: String?
    var progressDetail: Detail?
    var error: String?
    var errorDetail: ErrorDetail?
  }

  /// Takes one line of the stream; returns whether the byte count changed.
  /// A line that reports an error throws it (the pull failed).
  @discardableResult
  mutating func take(line: some StringProtocol) throws(AirliftCoreError) -> Bool {
    let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !text.isEmpty else { return false }
    guard let message = try? JSONDecoder().decode(Message.self, from: Data(text.utf8)) else {
      throw .imagePull(reason: "the engine sent a line that is not a JSON message: \(text.prefix(200))")
    }
    if let error = message.errorDetail?.message ?? message.error {
      throw .imagePull(reason: error)
    }
    guard let status = message.status else { return false }
    guard let layer = message.id, !status.hasPrefix("Pulling from") else {
      lastStatus = status
      return false
    }
    let before = bytes
    switch status {
    case "Downloading":
      let detail = message.progressDetail
      let known = layers[layer] ?? (0, 0)
      layers[layer] = (detail?.current ?? known.current, detail?.total ?? known.total)
    case "Download complete", "Verifying Checksum":
      if let known = layers[layer], known.total > 0 { layers[layer] = (known.total, known.total) }
    case "Already exists":
      reused.insert(layer)
    default:
      break
    }
    return bytes != before
  }
}
