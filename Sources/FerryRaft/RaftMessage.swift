import NIOCore

/// A message between two members of one Raft group. Transport-agnostic: `FerryWire` encodes it.
///
/// Every message carries the sender's term; a receiver first reconciles terms (Raft §5.1) and then
/// handles the body. Pre-vote messages carry the term the sender *would* campaign in (thesis §9.6).
public struct RaftMessage: Sendable, Hashable {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var body: Body

    public init(from: NodeID, to: NodeID, term: Term, body: Body) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    public enum Body: Sendable, Hashable {
        /// "Would you vote for me in `term`?" Changes no state at the receiver (thesis §9.6).
        case preVote(lastIndex: LogIndex, lastTerm: Term)
        case preVoteResponse(granted: Bool)
        /// RequestVote RPC (Raft §5.2). `leadershipTransfer` lets it through a follower's leader lease.
        case requestVote(lastIndex: LogIndex, lastTerm: Term, leadershipTransfer: Bool)
        case requestVoteResponse(granted: Bool)
        /// AppendEntries RPC with entries (Raft §5.3).
        case append(AppendRequest)
        case appendResponse(AppendResponse)
        /// AppendEntries without entries: keeps followers from campaigning and carries the commit index.
        case heartbeat(commit: LogIndex)
        case heartbeatResponse
        /// One chunk of an InstallSnapshot RPC (Raft §7).
        case snapshotChunk(SnapshotChunk)
        /// "I hold bytes `[0, nextOffset)` of the snapshot (index, term)"; lets the leader resume a transfer.
        case snapshotChunkResponse(index: LogIndex, term: Term, nextOffset: UInt64)
        /// Leadership transfer: campaign now, skipping pre-vote (thesis §3.10).
        case timeoutNow
    }
}

/// AppendEntries request (Raft §5.3, Figure 2).
public struct AppendRequest: Sendable, Hashable {
    public var prevIndex: LogIndex
    public var prevTerm: Term
    public var entries: [Entry]
    /// The leader's commit index.
    public var commit: LogIndex

    public init(prevIndex: LogIndex, prevTerm: Term, entries: [Entry], commit: LogIndex) {
        self.prevIndex = prevIndex
        self.prevTerm = prevTerm
        self.entries = entries
        self.commit = commit
    }
}

/// AppendEntries response.
///
/// On success, `index` is the last index the follower now holds durably and matching the leader.
/// On rejection, `index` is the request's `prevIndex`, and (`hintIndex`, `hintTerm`) is the largest index of
/// the follower's log whose term is `<= prevTerm` (or its last index if shorter): the leader skips whole terms
/// when it backs `next` up (Raft §5.3, "optimization", as etcd implements it).
public struct AppendResponse: Sendable, Hashable {
    public var index: LogIndex
    public var reject: Bool
    public var hintIndex: LogIndex
    public var hintTerm: Term
    /// The follower is repairing (`RaftCore.repairing`): the leader does not count it toward commit.
    public var repairing: Bool

    public init(
        index: LogIndex,
        reject: Bool = false,
        hintIndex: LogIndex = 0,
        hintTerm: Term = 0,
        repairing: Bool = false
    ) {
        self.index = index
        self.reject = reject
        self.hintIndex = hintIndex
        self.hintTerm = hintTerm
        self.repairing = repairing
    }
}

/// One chunk of a snapshot in flight. Chunks are sent in order, each from the offset the follower asked for.
public struct SnapshotChunk: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    /// Byte offset of `data` within the whole snapshot.
    public var offset: UInt64
    /// Total size of the snapshot's data in bytes.
    public var totalBytes: UInt64
    public var data: ByteBuffer

    public init(metadata: SnapshotMetadata, offset: UInt64, totalBytes: UInt64, data: ByteBuffer) {
        self.metadata = metadata
        self.offset = offset
        self.totalBytes = totalBytes
        self.data = data
    }

    /// True for the chunk that completes the snapshot.
    public var isLast: Bool { offset + UInt64(data.readableBytes) == totalBytes }
}

extension RaftMessage.Body {
    /// A short, stable name for traces and golden files.
    public var name: String {
        switch self {
        case .preVote: return "PreVote"
        case .preVoteResponse: return "PreVoteResp"
        case .requestVote: return "Vote"
        case .requestVoteResponse: return "VoteResp"
        case .append: return "App"
        case .appendResponse: return "AppResp"
        case .heartbeat: return "Heartbeat"
        case .heartbeatResponse: return "HeartbeatResp"
        case .snapshotChunk: return "Snap"
        case .snapshotChunkResponse: return "SnapResp"
        case .timeoutNow: return "TimeoutNow"
        }
    }
}
