import NIOCore

/// A node of the cluster. `0` is never a valid id: it stands for "none" on the wire.
public typealias NodeID = UInt64
/// A Raft term (Raft §5.1). Terms start at 0 and only grow.
public typealias Term = UInt64
/// A position in the replicated log. The first entry has index 1; index 0 is the empty log.
public typealias LogIndex = UInt64

/// What an entry carries. Raw values are part of the disk and wire formats: append only.
public enum EntryKind: UInt8, Sendable, Hashable {
    /// Application data: opaque bytes that the state machine applies.
    case normal = 0
    /// The empty entry a new leader appends to commit earlier terms (Raft §5.4.2, §8).
    case noop = 1
    /// A membership change: the payload is the whole membership after it (`ConfState.encodedEntryPayload`).
    case config = 2
}

/// One log entry. The pair (index, term) names it uniquely (Log Matching, Raft §5.3).
public struct Entry: Sendable, Hashable {
    public var index: LogIndex
    public var term: Term
    public var kind: EntryKind
    public var payload: ByteBuffer

    public init(index: LogIndex, term: Term, kind: EntryKind = .normal, payload: ByteBuffer) {
        self.index = index
        self.term = term
        self.kind = kind
        self.payload = payload
    }

    /// Bytes this entry counts against byte limits (append batches, in-flight and uncommitted bytes).
    ///
    /// The fixed part approximates the record header (index, term, kind, length) so that empty entries
    /// still cost something and a limit of N bytes can never admit an unbounded number of them.
    public var byteCount: Int { payload.readableBytes + Entry.headerBytes }

    /// The fixed per-entry cost counted by `byteCount`.
    public static let headerBytes = 24
}

/// The state Raft must keep on stable storage before it answers (Raft Figure 2, "persistent state").
public struct HardState: Sendable, Hashable {
    /// The latest term this node has seen.
    public var term: Term
    /// The candidate this node voted for in `term`, or 0.
    public var vote: NodeID
    /// The highest index known committed. Persisting it is an optimisation (replay after restart), not a
    /// safety requirement; it never decreases.
    public var commit: LogIndex

    public init(term: Term = 0, vote: NodeID = 0, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public static let empty = HardState()
}

/// The membership of a group: voters decide elections and commits; learners only receive the log. It travels
/// in snapshots and in `config` entries (`MembershipChange`).
public struct ConfState: Sendable, Hashable {
    /// Voting members, sorted, without duplicates.
    public var voters: [NodeID]
    /// Non-voting members, sorted, disjoint from `voters`.
    public var learners: [NodeID]

    public init(voters: [NodeID], learners: [NodeID] = []) {
        self.voters = Array(Set(voters)).sorted()
        self.learners = Array(Set(learners).subtracting(voters)).sorted()
    }

    /// Every member, voters first.
    public var members: [NodeID] { voters + learners }
}

/// Describes a snapshot: the state machine after applying every entry up to `index`.
public struct SnapshotMetadata: Sendable, Hashable {
    public var index: LogIndex
    public var term: Term
    public var conf: ConfState

    public init(index: LogIndex, term: Term, conf: ConfState) {
        self.index = index
        self.term = term
        self.conf = conf
    }
}

/// A snapshot of the application's state machine at `metadata.index`. `data` is opaque to Raft.
public struct Snapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    public var data: ByteBuffer

    public init(metadata: SnapshotMetadata, data: ByteBuffer) {
        self.metadata = metadata
        self.data = data
    }
}

/// The role a node plays in its group (Raft §5.2), plus pre-candidate (Raft thesis §9.6).
public enum RaftRoleKind: String, Sendable, Hashable {
    case follower
    case preCandidate
    case candidate
    case leader
}

/// Volatile facts the driver may want to report (metrics, routing); never persisted.
public struct SoftState: Sendable, Hashable {
    public var role: RaftRoleKind
    public var leader: NodeID?

    public init(role: RaftRoleKind, leader: NodeID?) {
        self.role = role
        self.leader = leader
    }
}
