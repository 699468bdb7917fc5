import CZstd

/// Why a zstd frame could not be read.
public enum ZstdError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The frame is damaged, or it is not zstd.
  case corrupt(String)
  /// It holds more or fewer bytes than the chunk it stands for.
  case wrongSize(expected: Int, got: Int)

  public var description: String {
    switch self {
    case .corrupt(let reason): return "the compressed chunk is damaged (\(reason))"
    case .wrongSize(let expected, let got): return "the compressed chunk holds \(got) bytes, not \(expected)"
    }
  }
}

/// Compresses chunks one zstd frame each, reusing one context: for one
/// thread at a time (the controller packs an asset on a thread-pool thread).
public final class ZstdCompressor {
  private let context: OpaquePointer
  private let level: Int32

  /// Level 9 by default: the pack is made once per asset and read by every device, so a slower, smaller
  /// compression pays.
  public init(level: Int32 = 9) {
    context = ZSTD_createCCtx()
    self.level = level
  }

  deinit { ZSTD_freeCCtx(context) }

  /// One frame holding `bytes`.
  public func compress(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
    let bound = ZSTD_compressBound(bytes.count)
    var out = [UInt8](repeating: 0, count: bound)
    let written = out.withUnsafeMutableBytes { target in
      ZSTD_compressCCtx(context, target.baseAddress, bound, bytes.baseAddress, bytes.count, level)
    }
    // Compressing into a buffer of the bound cannot fail but for memory; a frame of nothing says so at once.
    guard ZSTD_isError(written) == 0 else { return [] }
    out.removeLast(bound - written)
    return out
  }
}

/// Reads the frames of a chunk pack, reusing one context: for one task at a time.
public final class ZstdDecompressor {
  private let context: OpaquePointer

  public init() { context = ZSTD_createDCtx() }

  deinit { ZSTD_freeDCtx(context) }

  /// The `size` bytes `frame` holds; a frame that holds more is refused without writing past `size` (a
  /// forged pack cannot make the device inflate more than the index's chunk length).
  public func decompress(_ frame: UnsafeRawBufferPointer, size: Int) throws(ZstdError) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: size)
    let written = out.withUnsafeMutableBytes { target in
      ZSTD_decompressDCtx(context, target.baseAddress, size, frame.baseAddress, frame.count)
    }
    if ZSTD_isError(written) != 0 {
      let reason = String(cString: ZSTD_getErrorName(written))
      if ZSTD_getErrorCode(written) == ZSTD_error_dstSize_tooSmall {
        throw .wrongSize(expected: size, got: Int(clamping: ZSTD_getFrameContentSize(frame.baseAddress, frame.count)))
      }
      throw .corrupt(reason)
    }
    guard written == size else { throw .wrongSize(expected: size, got: written) }
    return out
  }
}

/// The most a frame of `size` bytes can take (zstd's bound): what a chunk index allows for a packed chunk.
public func zstdBound(_ size: Int) -> Int { ZSTD_compressBound(size) }
