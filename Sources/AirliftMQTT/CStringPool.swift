#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// C copies of the strings and bytes handed to Paho, kept alive for the
/// client's whole life so no option pointer can dangle, then freed once.
final class CStringPool: @unchecked Sendable {
  // Only appended to while the client is being configured (one caller at a
  // time, before and during connect), freed in deinit.
  private var pointers: [UnsafeMutableRawPointer] = []

  func string(_ value: String) -> UnsafePointer<CChar> {
    let copy = strdup(value)!
    pointers.append(UnsafeMutableRawPointer(copy))
    return UnsafePointer(copy)
  }

  func bytes(_ value: [UInt8]) -> UnsafeRawPointer {
    let memory = malloc(max(value.count, 1))!
    value.withUnsafeBytes { source in
      if let base = source.baseAddress { memory.copyMemory(from: base, byteCount: value.count) }
    }
    pointers.append(memory)
    return UnsafeRawPointer(memory)
  }

  deinit {
    for pointer in pointers { free(pointer) }
  }
}
