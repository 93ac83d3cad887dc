import NIOCore

/// Node-level frames that share a peer connection with the Raft messages (DESIGN §6): same framing
/// (`length u32 | group u64 | kind u8 | body`), kinds from 64 so that they never collide with a Raft kind.
///
/// | kind | name | group | body |
/// |---|---|---|---|
/// | 64 | alive | 0 | from u64, wall clock ms i64 (older builds omit it: 17 bytes), flags u8 (only when set: 1 slow disk) |
/// | 65 | quiesce | the group | from u64, term u64, commit u64 |
/// | 66 | forward | 0 | from u64, a client frame holding a request |
/// | 67 | forwardReply | 0 | from u64, a client frame holding the response (the request's correlation id) |
///
/// `alive` is sent by every node to every peer each heartbeat interval: it is the one heartbeat that stands in
/// for the heartbeats of all quiesced groups; its wall clock reading lets every node estimate the others' clocks
/// (`PeerClocks`: entries are stamped with a majority's time, not one node's), and its flag `slowDisk` (a 26-byte
/// frame, sent only while set) keeps leaderships away from a node whose fsyncs are slow. `quiesce` tells the followers of an idle group that its leader
/// stopped heartbeating it and what it last committed (it doubles as the last heartbeat: a follower whose last
/// heartbeat was lost still learns the commit index); they stop counting election time for as long as the
/// leader's node stays alive. `forward` carries a client request that a node's API (SQS) routed to the peer
/// that leads the partition, in the native protocol's frame (`ClientFrame`); the peer answers it with
/// `forwardReply` as it would answer a client, on its own connection back.
public enum PeerControl: Sendable, Hashable {
    case alive(from: UInt64, wallMs: Int64?, slowDisk: Bool = false)
    case quiesce(groupID: UInt64, from: UInt64, term: UInt64, commit: UInt64)
    case forward(from: UInt64, ClientFrame)
    case forwardReply(from: UInt64, ClientFrame)

    static let aliveKind: UInt8 = 64
    static let quiesceKind: UInt8 = 65
    static let forwardKind: UInt8 = 66
    static let forwardReplyKind: UInt8 = 67
    static let kinds: ClosedRange<UInt8> = 64...67

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        switch self {
        case .alive(let from, let wallMs, let slowDisk):
            let flags = slowDisk ? 1 : 0
            buffer.writeU32(wallMs == nil && flags == 0 ? 8 + 1 + 8 : flags == 0 ? 8 + 1 + 16 : 8 + 1 + 17)
            buffer.writeU64(0)
            buffer.writeU8(Self.aliveKind)
            buffer.writeU64(from)
            if wallMs != nil || flags != 0 { buffer.writeU64(UInt64(bitPattern: wallMs ?? 0)) }
            if flags != 0 { buffer.writeU8(UInt8(flags)) }
        case .quiesce(let groupID, let from, let term, let commit):
            buffer.writeU32(8 + 1 + 24)
            buffer.writeU64(groupID)
            buffer.writeU8(Self.quiesceKind)
            buffer.writeU64(from)
            buffer.writeU64(term)
            buffer.writeU64(commit)
        case .forward(let from, let frame), .forwardReply(let from, let frame):
            let lengthIndex = buffer.writerIndex
            buffer.writeU32(0)
            buffer.writeU64(0)
            if case .forward = self { buffer.writeU8(Self.forwardKind) } else { buffer.writeU8(Self.forwardReplyKind) }
            buffer.writeU64(from)
            frame.encode(into: &buffer)
            buffer.setInteger(UInt32(buffer.writerIndex - lengthIndex - 4), at: lengthIndex, endianness: .big)
        }
        return buffer
    }
}

/// One decoded item of a peer connection.
public enum PeerInbound: Sendable, Hashable {
    case raft(PeerFrame)
    case control(PeerControl)

    /// Decodes one frame (Raft or control) from the front of `buffer`: nil when it does not yet hold a whole
    /// frame; throws on a malformed one, exactly as `PeerFrame.decode` does.
    public static func decode(from buffer: inout ByteBuffer) throws(WireDecodeError) -> PeerInbound? {
        guard let kind = buffer.getInteger(at: buffer.readerIndex + 12, as: UInt8.self),
            PeerControl.kinds.contains(kind)
        else {
            return try PeerFrame.decode(from: &buffer).map { .raft($0) }
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        if kind == PeerControl.forwardKind || kind == PeerControl.forwardReplyKind {
            return try decodeForward(kind: kind, length: Int(length), from: &buffer)
        }
        let expected = kind == PeerControl.aliveKind ? (length == 17 || length == 26 ? Int(length) : 25) : 33
        guard Int(length) == expected else {
            throw .malformed("control frame of \(length) bytes, expected \(expected)")
        }
        guard buffer.readableBytes >= 4 + expected else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let groupID = try buffer.readU64("group")
        _ = try buffer.readU8("kind")
        let from = try buffer.readU64("from")
        if kind == PeerControl.aliveKind {
            guard groupID == 0 else { throw .malformed("alive frame for group \(groupID)") }
            let wallMs = expected >= 25 ? Int64(bitPattern: try buffer.readU64("wall clock")) : nil
            let flags = expected == 26 ? try buffer.readU8("flags") : 0
            guard flags <= 1 else { throw .malformed("alive flags \(flags)") }
            return .control(.alive(from: from, wallMs: wallMs, slowDisk: flags == 1))
        }
        let term = try buffer.readU64("term")
        return .control(.quiesce(groupID: groupID, from: from, term: term, commit: try buffer.readU64("commit")))
    }
}

extension PeerInbound {
    /// A `forward` or `forwardReply` frame: `group` 0, `from`, then exactly one client frame of the right
    /// direction.
    static func decodeForward(
        kind: UInt8,
        length: Int,
        from buffer: inout ByteBuffer
    ) throws(WireDecodeError) -> PeerInbound? {
        guard length <= WireLimits.maxPeerFrameBytes else {
            throw .frameTooLarge(length: length, limit: WireLimits.maxPeerFrameBytes)
        }
        guard length >= 8 + 1 + 8 + ClientFrame.headerBytes else { throw .frameTooShort(length: length) }
        guard buffer.readableBytes >= 4 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        var body = buffer.readSlice(length: length)!
        let groupID = try body.readU64("group")
        _ = try body.readU8("kind")
        let from = try body.readU64("from")
        guard groupID == 0 else { throw .malformed("forwarded request for group \(groupID)") }
        guard let frame = try ClientFrame.decode(from: &body), body.readableBytes == 0 else {
            throw .malformed("a forward frame must hold exactly one client frame")
        }
        switch (kind == PeerControl.forwardKind, frame.payload) {
        case (true, .request): return .control(.forward(from: from, frame))
        case (false, .response): return .control(.forwardReply(from: from, frame))
        default: throw .malformed("a forward frame holding the wrong direction")
        }
    }
}
