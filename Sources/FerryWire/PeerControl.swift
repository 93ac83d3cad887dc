import NIOCore

/// Node-level frames that share a peer connection with the Raft messages (DESIGN §6): same framing
/// (`length u32 | group u64 | kind u8 | body`), kinds from 64 so that they never collide with a Raft kind.
///
/// | kind | name | group | body |
/// |---|---|---|---|
/// | 64 | alive | 0 | from u64 |
/// | 65 | quiesce | the group | from u64, term u64, commit u64 |
///
/// `alive` is sent by every node to every peer each heartbeat interval: it is the one heartbeat that stands in
/// for the heartbeats of all quiesced groups. `quiesce` tells the followers of an idle group that its leader
/// stopped heartbeating it and what it last committed (it doubles as the last heartbeat: a follower whose last
/// heartbeat was lost still learns the commit index); they stop counting election time for as long as the
/// leader's node stays alive.
public enum PeerControl: Sendable, Hashable {
    case alive(from: UInt64)
    case quiesce(groupID: UInt64, from: UInt64, term: UInt64, commit: UInt64)

    static let aliveKind: UInt8 = 64
    static let quiesceKind: UInt8 = 65

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        switch self {
        case .alive(let from):
            buffer.writeU32(8 + 1 + 8)
            buffer.writeU64(0)
            buffer.writeU8(Self.aliveKind)
            buffer.writeU64(from)
        case .quiesce(let groupID, let from, let term, let commit):
            buffer.writeU32(8 + 1 + 24)
            buffer.writeU64(groupID)
            buffer.writeU8(Self.quiesceKind)
            buffer.writeU64(from)
            buffer.writeU64(term)
            buffer.writeU64(commit)
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
            kind == PeerControl.aliveKind || kind == PeerControl.quiesceKind
        else {
            return try PeerFrame.decode(from: &buffer).map { .raft($0) }
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        let expected = kind == PeerControl.aliveKind ? 17 : 33
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
            return .control(.alive(from: from))
        }
        let term = try buffer.readU64("term")
        return .control(.quiesce(groupID: groupID, from: from, term: term, commit: try buffer.readU64("commit")))
    }
}
