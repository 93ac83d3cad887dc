/// Why bytes from the network did not decode. Decoders are total: every byte string either decodes or throws
/// one of these; none traps (STYLE #8).
public enum WireDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The length prefix announces more than the frame limit allows.
    case frameTooLarge(length: Int, limit: Int)
    /// The length prefix is too small to hold the fixed header.
    case frameTooShort(length: Int)
    /// The frame's kind byte names nothing we know.
    case unknownKind(UInt8)
    /// The body ended before `field` was complete.
    case truncated(field: String)
    /// The body had bytes left over after the last field.
    case trailingBytes(count: Int)
    /// A field holds a value outside its domain.
    case invalidValue(field: String, value: UInt64)
    /// A queue field (request, attributes, handle…) did not decode.
    case malformed(String)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let limit): return "frame of \(length) bytes exceeds limit \(limit)"
        case .frameTooShort(let length): return "frame of \(length) bytes is shorter than its header"
        case .unknownKind(let kind): return "unknown frame kind \(kind)"
        case .truncated(let field): return "frame truncated in \(field)"
        case .trailingBytes(let count): return "\(count) unexpected bytes after the frame body"
        case .invalidValue(let field, let value): return "invalid \(field): \(value)"
        case .malformed(let detail): return "malformed field: \(detail)"
        }
    }
}

/// Limits of the wire formats, with units (STYLE #5).
public enum WireLimits {
    /// A peer frame (length prefix excluded) is at most this many bytes. Raft's `maxAppendBytes` and
    /// `snapshotChunkBytes` must stay well below it.
    public static let maxPeerFrameBytes = 64 << 20
    /// A client frame (length prefix excluded) is at most this many bytes: a batch of 10 messages of 1 MiB
    /// with their attributes fits.
    public static let maxClientFrameBytes = 16 << 20
    /// At most this many members in a `ConfState` on the wire.
    public static let maxMembers = 1_024
}
