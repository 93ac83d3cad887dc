import CLZ4
import NIOCore

/// LZ4 block compression (liblz4) for record batches above a size threshold.
public enum LZ4 {
    public enum Failure: Error, Sendable, Hashable {
        /// The compressed bytes do not decompress to the announced length.
        case corrupt
        case tooLarge(Int)
    }

    /// Compresses `input`; nil when compression would not make it smaller.
    public static func compress(_ input: ByteBuffer) -> ByteBuffer? {
        let count = input.readableBytes
        guard count > 0, count <= Int(LZ4_MAX_INPUT_SIZE) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(count)))
        var output = ByteBuffer()
        output.reserveCapacity(bound)
        let written = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                let n = LZ4_compress_default(
                    source.baseAddress!.assumingMemoryBound(to: CChar.self),
                    destination.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(count),
                    Int32(bound)
                )
                return Int(max(n, 0))
            }
        }
        guard written > 0, written < count else { return nil }
        return output
    }

    /// Decompresses a block that must expand to exactly `length` bytes.
    public static func decompress(_ input: ByteBuffer, length: Int) throws(Failure) -> ByteBuffer {
        guard length >= 0, length <= Int(LZ4_MAX_INPUT_SIZE) else { throw .tooLarge(length) }
        var output = ByteBuffer()
        if length == 0 { return output }
        guard input.readableBytes > 0 else { throw .corrupt }
        output.reserveCapacity(length)
        let produced = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { destination in
                let n = LZ4_decompress_safe(
                    source.baseAddress!.assumingMemoryBound(to: CChar.self),
                    destination.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(source.count),
                    Int32(length)
                )
                return Int(max(n, 0))
            }
        }
        guard produced == length else { throw .corrupt }
        return output
    }
}
