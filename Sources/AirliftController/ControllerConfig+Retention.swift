import Foundation

/// When a device has not answered the notice of an active deployment, the controller shows it `Retrying` and
/// sends the notice again: after `first`, then waits that double up to `maximum` (Device Trust Manager's
/// "retrying until the timeout"). The deployment's device timeout, when it has one, ends it `Failed`.
public struct Redelivery: Codable, Sendable, Equatable {
  /// Seconds without an answer before the first new try.
  public var first: Double
  /// The longest wait between two tries.
  public var maximum: Double

  public init(first: Double = 60, maximum: Double = 3600) {
    self.first = first
    self.maximum = maximum
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let defaults = Redelivery()
    first = try c.decodeIfPresent(Double.self, forKey: .first) ?? defaults.first
    maximum = try c.decodeIfPresent(Double.self, forKey: .maximum) ?? defaults.maximum
    try c.check(first, in: 1...86_400, forKey: .first, unit: " seconds")
    try c.check(maximum, in: 1...86_400, forKey: .maximum, unit: " seconds")
    guard maximum >= first else {
      throw DecodingError.dataCorruptedError(
        forKey: .maximum, in: c, debugDescription: "is \(maximum), less than first (\(first)): give at least that")
    }
  }

  /// The wait after the `attempt`th new try (1: the first).
  public func delay(after attempt: Int) -> Double {
    min(first * pow(2, Double(min(max(attempt, 1), 30))), maximum)
  }
}

/// How many of a device's telemetry events the controller keeps, and how
/// long: a device that sends too many loses its oldest, never the store its
/// space.
public struct EventRetention: Codable, Sendable, Equatable {
  public var maxPerDevice: Int
  public var maxAgeDays: Int

  public init(maxPerDevice: Int = 1000, maxAgeDays: Int = 30) {
    self.maxPerDevice = maxPerDevice
    self.maxAgeDays = maxAgeDays
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let defaults = EventRetention()
    maxPerDevice = try c.decodeIfPresent(Int.self, forKey: .maxPerDevice) ?? defaults.maxPerDevice
    maxAgeDays = try c.decodeIfPresent(Int.self, forKey: .maxAgeDays) ?? defaults.maxAgeDays
    try c.check(maxPerDevice, in: 1...1_000_000, forKey: .maxPerDevice)
    try c.check(maxAgeDays, in: 1...3650, forKey: .maxAgeDays)
  }
}

/// How long a finished deployment's status reports are kept, and how they are swept.
public struct StatusRetention: Codable, Sendable, Equatable {
  /// Days a report of a finished deployment is kept after it arrived.
  public var days: Int
  /// Rows deleted per transaction.
  public var batch: Int
  /// Seconds between sweeps.
  public var every: Int

  public init(days: Int = 90, batch: Int = 5000, every: Int = 3600) {
    self.days = days
    self.batch = batch
    self.every = every
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let defaults = StatusRetention()
    days = try c.decodeIfPresent(Int.self, forKey: .days) ?? defaults.days
    batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? defaults.batch
    every = try c.decodeIfPresent(Int.self, forKey: .every) ?? defaults.every
    try c.check(days, in: 1...3650, forKey: .days, unit: " days")
    try c.check(batch, in: 100...100_000, forKey: .batch, unit: " rows")
    try c.check(every, in: 10...86_400, forKey: .every, unit: " seconds")
  }
}
