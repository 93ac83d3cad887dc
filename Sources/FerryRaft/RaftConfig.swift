/// Limits and timeouts of one Raft group. Time is counted in ticks; the driver decides how long a tick is.
///
/// Every limit is named with its unit last (STYLE #5); `validate()` checks the relations between them.
public struct RaftConfig: Sendable, Hashable {
    /// A follower campaigns after hearing nothing from a leader for a random number of ticks in
    /// `[electionTimeoutTicks, 2 * electionTimeoutTicks)`. A leader with check-quorum steps down when it
    /// has not heard from a quorum for `electionTimeoutTicks`.
    public var electionTimeoutTicks: Int = 10
    /// A leader sends heartbeats every `heartbeatIntervalTicks`.
    public var heartbeatIntervalTicks: Int = 1
    /// Pre-vote (thesis §9.6): a node asks whether it could win before it bumps its term, so a partitioned
    /// node rejoining cannot disrupt a working leader.
    public var preVote: Bool = true
    /// Check-quorum (thesis §6.2): a leader that has not heard from a quorum within an election timeout steps
    /// down, and followers that heard from a leader recently ignore vote requests (the leader lease).
    public var checkQuorum: Bool = true
    /// An append message carries entries up to this many bytes (at least one entry, whatever its size).
    public var maxAppendBytes: Int = 1 << 20
    /// At most this many append messages in flight to one follower in the replicate state.
    public var maxInflightMessages: Int = 256
    /// At most this many entry bytes in flight to one follower; 0 means no byte limit.
    public var maxInflightBytes: Int = 64 << 20
    /// A leader refuses proposals while this many bytes of its log are not yet committed (0 = no limit).
    /// A proposal is always accepted when nothing is uncommitted, so one large batch cannot be starved.
    public var maxUncommittedBytes: Int = 256 << 20
    /// A single proposed payload may not exceed this many bytes.
    public var maxEntryBytes: Int = 16 << 20
    /// Committed entries handed to the application in one ready are limited to about this many bytes.
    public var maxCommittedBytesPerReady: Int = 32 << 20
    /// A snapshot is sent to a lagging follower in chunks of this many bytes.
    public var snapshotChunkBytes: Int = 1 << 20
    /// A learner is promoted to voter only when its log holds every committed entry but at most this many
    /// (dissertation §4.2.1: a voter that must first catch up would stall commits meanwhile).
    public var maxPromotionLagEntries: Int = 64

    public init() {}

    public enum ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
        case invalid(field: String, reason: String)

        public var description: String {
            switch self {
            case .invalid(let field, let reason): return "invalid Raft config: \(field) \(reason)"
            }
        }
    }

    /// Checks every limit and the relations between them.
    /// - Throws: `.invalid(field:reason:)` naming the first bad field.
    public func validate() throws(ValidationError) {
        func require(_ ok: Bool, _ field: String, _ reason: String) throws(ValidationError) {
            if !ok { throw .invalid(field: field, reason: reason) }
        }
        try require(heartbeatIntervalTicks >= 1, "heartbeatIntervalTicks", "must be at least 1")
        try require(
            electionTimeoutTicks > heartbeatIntervalTicks,
            "electionTimeoutTicks",
            "must be greater than heartbeatIntervalTicks"
        )
        try require(maxAppendBytes >= 1, "maxAppendBytes", "must be at least 1")
        try require(maxInflightMessages >= 1, "maxInflightMessages", "must be at least 1")
        try require(maxInflightBytes >= 0, "maxInflightBytes", "must not be negative")
        try require(maxUncommittedBytes >= 0, "maxUncommittedBytes", "must not be negative")
        try require(maxEntryBytes >= 1, "maxEntryBytes", "must be at least 1")
        try require(maxCommittedBytesPerReady >= 1, "maxCommittedBytesPerReady", "must be at least 1")
        try require(snapshotChunkBytes >= 1, "snapshotChunkBytes", "must be at least 1")
        try require(maxPromotionLagEntries >= 0, "maxPromotionLagEntries", "must not be negative")
    }
}
