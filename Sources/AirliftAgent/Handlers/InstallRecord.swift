import Foundation

/// What a handler records of one install (the slots it moves between), in
/// the update's work folder: the steps after a reboot or a crash read it.
struct InstallRecord<Value: Codable> {
  let context: InstallContext
  /// The file's name in the work folder.
  let name: String

  private var path: String { "\(context.workDirectory)/\(name)" }

  func save(_ value: Value) throws {
    try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
    try JSONEncoder().encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
  }

  /// The record; an error naming the folder when the install left none.
  func load() throws -> Value {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw AgentError.bundle(reason: "the install left no record (\(name)) in \(context.workDirectory)")
    }
    return try JSONDecoder().decode(Value.self, from: data)
  }
}
