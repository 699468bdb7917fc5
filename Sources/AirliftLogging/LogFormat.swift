import ArgumentParser
import Logging

/// How the executables write their logs: `text` for people at a terminal,
/// `json` (one object per line) for journald, Loki, Elasticsearch and
/// anything else that indexes fields.
public enum LogFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
  case text
  case json
}

/// `--log-level`: swift-log's levels, by name.
public enum LogLevel: String, CaseIterable, Sendable, ExpressibleByArgument {
  case trace, debug, info, notice, warning, error, critical

  public var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

/// The `--log-format` and `--log-level` options, shared by `airlift serve`
/// and `airlift-agent run`.
public struct LoggingOptions: ParsableArguments, Sendable {
  @Option(help: "Log format: text (for people) or json (one event per line, fields for device and deployment).")
  public var logFormat: LogFormat = .text

  @Option(help: "Least severe level logged: trace, debug, info, notice, warning, error or critical.")
  public var logLevel: LogLevel = .info

  public init() {}

  /// Installs the chosen handler for the whole process (once, at start).
  public func bootstrap() {
    let format = logFormat
    let level = logLevel.level
    LoggingSystem.bootstrap { label in
      var handler: any LogHandler =
        switch format {
        case .text: StreamLogHandler.standardError(label: label)
        case .json: JSONLogHandler.standardError(label: label)
        }
      handler.logLevel = level
      return handler
    }
  }
}
