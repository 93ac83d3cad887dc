import FerryRaft
import NIOCore

/// A Raft message between two nodes, tagged with its group: `length u32 | group u64 | kind u8 | body`
/// (DESIGN §6). Many groups share one connection per node pair. All integers are big-endian.
///
/// Body: `from u64 | to u64 | term u64 |` then, by kind:
///
/// | kind | name | fields |
/// |---|---|---|
/// | 1 | preVote | lastIndex u64, lastTerm u64 |
/// | 2 | preVoteResponse | granted u8 |
/// | 3 | requestVote | lastIndex u64, lastTerm u64, leadershipTransfer u8 |
/// | 4 | requestVoteResponse | granted u8 |
/// | 5 | append | prevIndex u64, prevTerm u64, commit u64, count u32, entries |
/// | 6 | appendResponse | index u64, flags u8 (1 reject, 2 repairing), hintIndex u64, hintTerm u64 |
/// | 7 | heartbeat | commit u64 |
/// | 8 | heartbeatResponse | — |
/// | 9 | snapshotChunk | metadata, offset u64, totalBytes u64, data (u32 length + bytes) |
/// | 10 | snapshotChunkResponse | index u64, term u64, nextOffset u64 |
/// | 11 | timeoutNow | — |
///
/// Entry: `index u64 | term u64 | kind u8 | payload (u32 length + bytes)`. Snapshot metadata:
/// `index u64 | term u64 | voters (u16 count + u64 each) | learners (u16 count + u64 each)`.
/// Kinds are append-only: a retired kind is never reused.
public struct PeerFrame: Sendable, Hashable {
    public var groupID: UInt64
    public var message: RaftMessage

    public init(groupID: UInt64, message: RaftMessage) {
        self.groupID = groupID
        self.message = message
    }

    /// Bytes of `length` + `group` + `kind`.
    public static let headerBytes = 4 + 8 + 1

    enum Kind: UInt8 {
        case preVote = 1
        case preVoteResponse = 2
        case requestVote = 3
        case requestVoteResponse = 4
        case append = 5
        case appendResponse = 6
        case heartbeat = 7
        case heartbeatResponse = 8
        case snapshotChunk = 9
        case snapshotChunkResponse = 10
        case timeoutNow = 11
    }

    /// Appends the encoded frame to `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        let lengthIndex = buffer.writerIndex
        buffer.writeU32(0)  // patched below
        let start = buffer.writerIndex
        buffer.writeU64(groupID)
        let m = message
        buffer.writeU8(Self.kind(of: m.body).rawValue)
        buffer.writeU64(m.from)
        buffer.writeU64(m.to)
        buffer.writeU64(m.term)
        switch m.body {
        case .preVote(let lastIndex, let lastTerm):
            buffer.writeU64(lastIndex)
            buffer.writeU64(lastTerm)
        case .preVoteResponse(let granted), .requestVoteResponse(let granted):
            buffer.writeBool(granted)
        case .requestVote(let lastIndex, let lastTerm, let transfer):
            buffer.writeU64(lastIndex)
            buffer.writeU64(lastTerm)
            buffer.writeBool(transfer)
        case .append(let request):
            buffer.writeU64(request.prevIndex)
            buffer.writeU64(request.prevTerm)
            buffer.writeU64(request.commit)
            buffer.writeU32(UInt32(request.entries.count))
            for entry in request.entries {
                buffer.writeU64(entry.index)
                buffer.writeU64(entry.term)
                buffer.writeU8(entry.kind.rawValue)
                buffer.writeLengthPrefixed(entry.payload)
            }
        case .appendResponse(let response):
            buffer.writeU64(response.index)
            buffer.writeU8((response.reject ? 1 : 0) | (response.repairing ? 2 : 0))
            buffer.writeU64(response.hintIndex)
            buffer.writeU64(response.hintTerm)
        case .heartbeat(let commit):
            buffer.writeU64(commit)
        case .heartbeatResponse, .timeoutNow:
            break
        case .snapshotChunk(let chunk):
            Self.encode(chunk.metadata, into: &buffer)
            buffer.writeU64(chunk.offset)
            buffer.writeU64(chunk.totalBytes)
            buffer.writeLengthPrefixed(chunk.data)
        case .snapshotChunkResponse(let index, let term, let nextOffset):
            buffer.writeU64(index)
            buffer.writeU64(term)
            buffer.writeU64(nextOffset)
        }
        let length = buffer.writerIndex - start
        precondition(length <= WireLimits.maxPeerFrameBytes, "peer frame of \(length) bytes exceeds the limit")
        buffer.setInteger(UInt32(length), at: lengthIndex, endianness: .big)
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }

    /// Decodes one frame from the front of `buffer`.
    /// - Returns: nil (consuming nothing) when the buffer does not yet hold a whole frame.
    /// - Throws: on any malformed frame; the length is checked against the limit before anything else is read.
    public static func decode(from buffer: inout ByteBuffer) throws(WireDecodeError) -> PeerFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        let frameLength = Int(length)
        guard frameLength <= WireLimits.maxPeerFrameBytes else {
            throw .frameTooLarge(length: frameLength, limit: WireLimits.maxPeerFrameBytes)
        }
        guard frameLength >= headerBytes - 4 else { throw .frameTooShort(length: frameLength) }
        guard buffer.readableBytes >= 4 + frameLength else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        guard var body = buffer.readSlice(length: frameLength) else { return nil }
        let frame = try decodeBody(&body)
        guard body.readableBytes == 0 else { throw .trailingBytes(count: body.readableBytes) }
        return frame
    }

    static func decodeBody(_ body: inout ByteBuffer) throws(WireDecodeError) -> PeerFrame {
        let groupID = try body.readU64("group")
        let rawKind = try body.readU8("kind")
        guard let kind = Kind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let from = try body.readU64("from")
        let to = try body.readU64("to")
        let term = try body.readU64("term")
        let messageBody: RaftMessage.Body
        switch kind {
        case .preVote:
            messageBody = .preVote(lastIndex: try body.readU64("lastIndex"), lastTerm: try body.readU64("lastTerm"))
        case .preVoteResponse:
            messageBody = .preVoteResponse(granted: try body.readBool("granted"))
        case .requestVote:
            messageBody = .requestVote(
                lastIndex: try body.readU64("lastIndex"),
                lastTerm: try body.readU64("lastTerm"),
                leadershipTransfer: try body.readBool("leadershipTransfer")
            )
        case .requestVoteResponse:
            messageBody = .requestVoteResponse(granted: try body.readBool("granted"))
        case .append:
            messageBody = .append(try decodeAppend(&body))
        case .appendResponse:
            let index = try body.readU64("index")
            let flags = try body.readU8("flags")
            guard flags <= 3 else { throw .invalidValue(field: "flags", value: UInt64(flags)) }
            messageBody = .appendResponse(
                AppendResponse(
                    index: index,
                    reject: flags & 1 != 0,
                    hintIndex: try body.readU64("hintIndex"),
                    hintTerm: try body.readU64("hintTerm"),
                    repairing: flags & 2 != 0
                )
            )
        case .heartbeat:
            messageBody = .heartbeat(commit: try body.readU64("commit"))
        case .heartbeatResponse:
            messageBody = .heartbeatResponse
        case .snapshotChunk:
            let metadata = try decodeMetadata(&body)
            let offset = try body.readU64("offset")
            let totalBytes = try body.readU64("totalBytes")
            let data = try body.readLengthPrefixedSlice("data")
            guard offset <= totalBytes, UInt64(data.readableBytes) <= totalBytes - offset else {
                throw .invalidValue(field: "offset", value: offset)
            }
            messageBody = .snapshotChunk(
                SnapshotChunk(metadata: metadata, offset: offset, totalBytes: totalBytes, data: data)
            )
        case .snapshotChunkResponse:
            messageBody = .snapshotChunkResponse(
                index: try body.readU64("index"),
                term: try body.readU64("term"),
                nextOffset: try body.readU64("nextOffset")
            )
        case .timeoutNow:
            messageBody = .timeoutNow
        }
        guard from != 0 else { throw .invalidValue(field: "from", value: 0) }
        guard to != 0 else { throw .invalidValue(field: "to", value: 0) }
        return PeerFrame(groupID: groupID, message: RaftMessage(from: from, to: to, term: term, body: messageBody))
    }

    static func decodeAppend(_ body: inout ByteBuffer) throws(WireDecodeError) -> AppendRequest {
        let prevIndex = try body.readU64("prevIndex")
        let prevTerm = try body.readU64("prevTerm")
        let commit = try body.readU64("commit")
        let count = try body.readU32("count")
        // Each entry takes at least 21 bytes, so a count the body cannot hold is rejected before allocating.
        guard UInt64(count) * 21 <= UInt64(body.readableBytes) else { throw .truncated(field: "entries") }
        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))
        var expected = prevIndex &+ 1
        for _ in 0..<count {
            let index = try body.readU64("entry.index")
            guard index == expected else { throw .invalidValue(field: "entry.index", value: index) }
            let term = try body.readU64("entry.term")
            let rawKind = try body.readU8("entry.kind")
            guard let kind = EntryKind(rawValue: rawKind) else {
                throw .invalidValue(field: "entry.kind", value: UInt64(rawKind))
            }
            let payload = try body.readLengthPrefixedSlice("entry.payload")
            entries.append(Entry(index: index, term: term, kind: kind, payload: payload))
            expected = index &+ 1
        }
        return AppendRequest(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit)
    }

    static func encode(_ metadata: SnapshotMetadata, into buffer: inout ByteBuffer) {
        buffer.writeU64(metadata.index)
        buffer.writeU64(metadata.term)
        for members in [metadata.conf.voters, metadata.conf.learners] {
            precondition(members.count <= WireLimits.maxMembers, "too many members")
            buffer.writeU16(UInt16(members.count))
            for member in members { buffer.writeU64(member) }
        }
    }

    static func decodeMetadata(_ body: inout ByteBuffer) throws(WireDecodeError) -> SnapshotMetadata {
        let index = try body.readU64("snapshot.index")
        let term = try body.readU64("snapshot.term")
        var lists: [[NodeID]] = []
        for field in ["snapshot.voters", "snapshot.learners"] {
            let count = Int(try body.readU16(field))
            guard count <= WireLimits.maxMembers else { throw .invalidValue(field: field, value: UInt64(count)) }
            var members: [NodeID] = []
            for _ in 0..<count {
                let member = try body.readU64(field)
                guard member != 0 else { throw .invalidValue(field: field, value: 0) }
                members.append(member)
            }
            lists.append(members)
        }
        return SnapshotMetadata(index: index, term: term, conf: ConfState(voters: lists[0], learners: lists[1]))
    }

    static func kind(of body: RaftMessage.Body) -> Kind {
        switch body {
        case .preVote: return .preVote
        case .preVoteResponse: return .preVoteResponse
        case .requestVote: return .requestVote
        case .requestVoteResponse: return .requestVoteResponse
        case .append: return .append
        case .appendResponse: return .appendResponse
        case .heartbeat: return .heartbeat
        case .heartbeatResponse: return .heartbeatResponse
        case .snapshotChunk: return .snapshotChunk
        case .snapshotChunkResponse: return .snapshotChunkResponse
        case .timeoutNow: return .timeoutNow
        }
    }
}
