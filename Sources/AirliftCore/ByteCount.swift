import Foundation

/// Byte counts for people, in binary units ("512 B", "1.5 MiB"), the same in the CLI and the dashboard.
public enum ByteCount {
  public static func text(_ count: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    return unit == 0 ? "\(count) B" : "\(String(format: "%.1f", value)) \(units[unit])"
  }
}
