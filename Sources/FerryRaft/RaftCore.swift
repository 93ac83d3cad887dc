import NIOCore

/// One Raft group as a value: no sockets, files, clocks or global randomness.
///
/// Not `Sendable`: it reads its log through a storage object that the driver owns; a driver confines both to
/// one thread (an event loop).
///
/// Events come in through `tick()`, `step(_:)`, `propose(_:)`, `transferLeadership(to:)` and `campaign()`;
/// what the driver must do comes out of `ready()` (see `RaftReady` for the order of persisting and sending),
/// and `advance(_:)` reports a ready's writes durable and its committed entries applied.
///
/// Departures from the Raft paper, all as in etcd-io/raft:
/// - pre-vote (thesis §9.6) and check-quorum with a leader lease (thesis §6.2) are on by default;
/// - a leader steps down as soon as it has not heard from a quorum for `electionTimeoutTicks`;
/// - the leader counts its own copy only once it is durable, but sends entries before that;
/// - a candidate counts its own vote only once its term and vote are durable.
public struct RaftCore {
    public let id: NodeID
    public let config: RaftConfig
    var rng: Xoshiro256

    /// Raft Figure 2 `currentTerm`.
    public internal(set) var term: Term = 0
    /// Raft Figure 2 `votedFor` (0 = none).
    public internal(set) var vote: NodeID = 0
    var log: RaftLog
    var role: Role
    /// The membership in effect: the latest `config` entry handed out as committed, or the snapshot's
    /// (changes take effect on commit, as in etcd-io/raft; see `RaftCore+Membership`).
    var conf: ConfState
    /// The index of the entry (or snapshot) `conf` comes from.
    var confIndex: LogIndex
    /// Memberships in effect from each index on, oldest first, back to the one in effect at `log.applied`:
    /// `membership(at:)` answers for a snapshot at the applied index.
    var confHistory: [(index: LogIndex, conf: ConfState)]

    /// Ticks since this node last heard from a leader (follower) or last started a campaign.
    var electionElapsed = 0
    var randomizedElectionTimeout: Int
    /// Ticks since start; the clock for check-quorum.
    var ticks: UInt64 = 0

    var outbox: [RaftMessage] = []
    var outboxAfterPersist: [RaftMessage] = []
    /// The hard state handed out in the latest ready.
    var handedHardState: HardState
    var handedSoftState: SoftState
    /// A candidate's own vote, to count once its term and vote are durable.
    var selfVotePendingTerm: Term?
    /// A snapshot being received in chunks.
    var incomingSnapshot: IncomingSnapshot?
    /// Set when storage failed: the group stops (never guesses around a broken disk).
    public internal(set) var storageFailure: RaftLogError?
    /// Protocol-aware recovery (issue 18; Alagappan et al., FAST 2018): this replica's storage lost or could not
    /// trust records it may have acknowledged, so its log was discarded (the driver starts it again from its last
    /// sound snapshot). Until it holds a commit index of the current leader's term (`finishRepairIfDone`), it
    /// grants no vote or pre-vote and never campaigns, and it tells the leader so in its append responses, so
    /// that its acknowledgements do not count toward commit.
    public internal(set) var repairing: Bool
    /// No vote or pre-vote is granted for a term up to this one: a repaired replica may have voted in it before
    /// its vote record was lost.
    public internal(set) var abstainThroughTerm: Term

    public enum InitError: Error, Sendable, Hashable {
        case invalidConfig(RaftConfig.ValidationError)
        case storage(RaftLogError)
        /// The stored commit index lies beyond the stored log: the storage lost durable entries.
        case commitBeyondLog(commit: LogIndex, lastIndex: LogIndex)
    }

    /// Starts (or restarts) a node from what `storage` holds. A node outside the stored membership starts as a
    /// non-member: a node that joins (its log is empty until the leader reaches it) or one that was removed.
    /// It never campaigns; it answers the leader's appends and votes like any follower.
    /// - Parameter randomSeed: seeds the election-timeout randomization; the only randomness Raft needs.
    /// - Parameters:
    ///   - repairing: the storage was damaged and the log discarded (see `repairing`).
    ///   - abstainThroughTerm: from an earlier repair (see `abstainThroughTerm`).
    public init(
        id: NodeID,
        config: RaftConfig,
        storage: any RaftLogReader,
        randomSeed: UInt64,
        repairing: Bool = false,
        abstainThroughTerm: Term = 0
    ) throws(InitError) {
        do { try config.validate() } catch { throw .invalidConfig(error) }
        precondition(id != 0, "node id 0 is reserved for none")
        let hardState: HardState
        let snapshot: SnapshotMetadata
        do { (hardState, snapshot) = try storage.initialState() } catch { throw .storage(error) }
        guard hardState.commit <= storage.lastIndex else {
            throw .commitBeyondLog(commit: hardState.commit, lastIndex: storage.lastIndex)
        }
        self.id = id
        self.config = config
        self.rng = Xoshiro256(seed: randomSeed)
        self.conf = snapshot.conf
        self.confIndex = snapshot.index
        self.confHistory = [(snapshot.index, snapshot.conf)]
        self.log = RaftLog(
            storage: storage,
            snapshotIndex: snapshot.index,
            maxCommittedBytesPerReady: config.maxCommittedBytesPerReady
        )
        self.term = hardState.term
        self.vote = hardState.vote
        self.repairing = repairing
        self.abstainThroughTerm = abstainThroughTerm
        self.log.commit(to: hardState.commit)
        self.handedHardState = HardState(term: hardState.term, vote: hardState.vote, commit: log.committed)
        self.role = .follower(leader: nil)
        self.handedSoftState = SoftState(role: .follower, leader: nil)
        self.randomizedElectionTimeout = config.electionTimeoutTicks
        resetRandomizedElectionTimeout()
    }

    // MARK: - Queries

    public var roleKind: RaftRoleKind {
        switch role {
        case .follower: return .follower
        case .preCandidate: return .preCandidate
        case .candidate: return .candidate
        case .leader, .transitioning: return .leader
        }
    }

    /// The leader this node knows of (itself when leading), or nil.
    public var leaderHint: NodeID? {
        switch role {
        case .follower(let leader): return leader
        case .preCandidate, .candidate: return nil
        case .leader, .transitioning: return id
        }
    }

    public var isLeader: Bool { roleKind == .leader }
    public var commitIndex: LogIndex { log.committed }
    public var appliedIndex: LogIndex { log.applied }
    public var lastIndex: LogIndex { log.lastIndex }
    public var firstIndex: LogIndex { log.firstIndex }
    public var membership: ConfState { conf }

    /// True when this node leads, no transfer is under way, and every entry is committed, applied here and
    /// matched by every member: the group has nothing left to replicate. A driver may then stop ticking it
    /// (quiesce) until a message or a proposal arrives; the followers' logs need no more heartbeats.
    public var isQuietLeader: Bool {
        guard case .leader(let leader) = role, leader.transferTarget == nil,
            log.committed == log.lastIndex, log.applied == log.committed
        else { return false }
        return leader.progress.values.allSatisfy { $0.match == log.lastIndex }
    }

    /// The term of the entry at `index`, or nil when compacted or beyond the end.
    public func term(at index: LogIndex) -> Term? {
        try? log.termIfPresent(at: index)
    }

    /// A voter of the current membership may campaign; learners and removed nodes may not, nor a node that is
    /// still installing a snapshot.
    var isPromotable: Bool {
        conf.voters.contains(id) && log.unstable.snapshot == nil && !repairing
    }

    // MARK: - Events

    /// Advances logical time by one tick: elections for followers and candidates, heartbeats and
    /// check-quorum for leaders.
    public mutating func tick() {
        guard storageFailure == nil else { return }
        ticks += 1
        do {
            switch role {
            case .follower, .preCandidate, .candidate:
                electionElapsed += 1
                if isPromotable && electionElapsed >= randomizedElectionTimeout {
                    electionElapsed = 0
                    try campaign(transfer: false)
                } else if repairing && electionElapsed >= randomizedElectionTimeout {
                    // Unheard for an election timeout while repairing (its group may be idle, its leader quiet,
                    // and what that leader sent before this group opened here lost): tell every voter where this
                    // log ends. The leader wakes and refills it; the others ignore it.
                    electionElapsed = 0
                    let last = log.lastIndex
                    for voter in conf.voters where voter != id {
                        send(
                            .appendResponse(
                                AppendResponse(index: last, reject: true, hintIndex: last, repairing: true)
                            ),
                            to: voter
                        )
                    }
                }
            case .leader:
                try tickLeader()
            case .transitioning:
                preconditionFailure("tick while leader state is taken")
            }
        } catch {
            fail(error)
        }
    }

    /// Handles one message from a peer.
    /// - Precondition: `message.to == id`.
    public mutating func step(_ message: RaftMessage) {
        precondition(message.to == id, "message for \(message.to) stepped into \(id)")
        guard storageFailure == nil else { return }
        do {
            try stepMessage(message)
        } catch {
            fail(error)
        }
    }

    /// Starts an election now, as if the election timeout had passed (for example when the connection to the
    /// leader was reset). Ignored by leaders, learners and non-members.
    public mutating func campaign() {
        guard storageFailure == nil, !isLeader, isPromotable else { return }
        do { try campaign(transfer: false) } catch { fail(error) }
    }

    /// Forgets the current leader, so that this follower grants pre-votes at once instead of waiting out its
    /// leader lease. For use when the driver knows the leader is gone (its connection was reset).
    public mutating func forgetLeader() {
        if case .follower(.some) = role {
            role = .follower(leader: nil)
        }
    }

    mutating func fail(_ error: RaftLogError) {
        storageFailure = error
        outbox.removeAll()
        outboxAfterPersist.removeAll()
    }

    // MARK: - Output

    /// The hard state as it may be persisted now. Its commit index never runs ahead of what this node already
    /// holds durably (entries of earlier, advanced readies), so however storage orders or splits the writes of
    /// one ready, a restart never finds a commit index beyond its log or covering a lost, overwritten entry.
    /// The price: a commit index that arrives with new entries is persisted one ready later.
    var currentHardState: HardState {
        var commit = handedHardState.commit
        if log.unstable.snapshot == nil {
            commit = max(commit, min(log.committed, log.unstable.offset - 1))
        }
        return HardState(term: term, vote: vote, commit: commit)
    }

    var currentSoftState: SoftState { SoftState(role: roleKind, leader: leaderHint) }

    /// `ready()` when there is something to do, else nil. Mutating, so a driver that keeps the core in a class
    /// checks it in place instead of copying the core to read `hasReady`.
    public mutating func readyIfAny() -> RaftReady? {
        hasReady ? ready() : nil
    }

    /// True when `ready()` would return something to do.
    public var hasReady: Bool {
        guard storageFailure == nil else { return false }
        if !outbox.isEmpty || !outboxAfterPersist.isEmpty { return true }
        if log.unstable.nextSnapshot != nil || !log.unstable.nextEntries.isEmpty { return true }
        if currentHardState != handedHardState || currentSoftState != handedSoftState { return true }
        return log.applying < log.committed
    }

    /// Collects what the driver must do now and marks it handed out. See `RaftReady` for the contract.
    public mutating func ready() -> RaftReady {
        var ready = RaftReady()
        guard storageFailure == nil else { return ready }
        ready.snapshot = log.unstable.nextSnapshot
        ready.entries = Array(log.unstable.nextEntries)
        log.unstable.acceptInProgress()
        let hardState = currentHardState
        if hardState != handedHardState {
            ready.mustSync = hardState.term != handedHardState.term || hardState.vote != handedHardState.vote
            ready.hardState = hardState
            handedHardState = hardState
        }
        if ready.snapshot != nil || !ready.entries.isEmpty { ready.mustSync = true }
        if currentSoftState != handedSoftState {
            ready.softState = currentSoftState
            handedSoftState = currentSoftState
        }
        ready.messages = outbox
        ready.messagesAfterPersist = outboxAfterPersist
        outbox.removeAll(keepingCapacity: true)
        outboxAfterPersist.removeAll(keepingCapacity: true)
        if let snapshot = ready.snapshot {
            log.applying = max(log.applying, snapshot.metadata.index)
        }
        do {
            ready.committedEntries = try log.nextCommittedEntries()
        } catch {
            fail(error)
            return RaftReady()
        }
        if let last = ready.committedEntries.last { log.applying = last.index }
        do {
            try applyMembershipChanges(in: ready.committedEntries)
        } catch {
            fail(error)
            return RaftReady()
        }
        return ready
    }

    /// Reports that `ready`'s writes are durable and its committed entries applied.
    /// - Precondition: readies are advanced in the order `ready()` returned them.
    public mutating func advance(_ ready: RaftReady) {
        guard storageFailure == nil else { return }
        if let snapshot = ready.snapshot {
            log.unstable.stableSnapshotTo(index: snapshot.metadata.index)
            log.applied = max(log.applied, snapshot.metadata.index)
        }
        if let last = ready.entries.last {
            log.unstable.stableTo(index: last.index, term: last.term)
        }
        if let last = ready.committedEntries.last {
            precondition(last.index <= log.applying, "applied \(last.index) beyond applying \(log.applying)")
            log.applied = max(log.applied, last.index)
        }
        do {
            if let hardState = ready.hardState { try selfVoteBecameDurable(hardState) }
            if let last = ready.entries.last { try ownEntriesBecameDurable(upTo: last) }
        } catch {
            fail(error)
        }
    }

    // MARK: - Sending

    /// Queues a message that may leave at once.
    mutating func send(_ body: RaftMessage.Body, to peer: NodeID, term messageTerm: Term? = nil) {
        outbox.append(RaftMessage(from: id, to: peer, term: messageTerm ?? term, body: body))
    }

    /// Queues a message that may leave only after the current ready's writes are durable.
    mutating func sendAfterPersist(_ body: RaftMessage.Body, to peer: NodeID) {
        outboxAfterPersist.append(RaftMessage(from: id, to: peer, term: term, body: body))
    }

    mutating func resetRandomizedElectionTimeout() {
        let timeout = config.electionTimeoutTicks
        randomizedElectionTimeout = timeout + rng.uniform(0..<timeout)
    }
}

/// The role with the state only that role has (STYLE #4).
enum Role: Sendable {
    case follower(leader: NodeID?)
    case preCandidate(VoteTally)
    case candidate(VoteTally)
    case leader(LeaderState)
    /// Placeholder while a leader handler holds `LeaderState` out of the enum to mutate it in place.
    case transitioning
}

/// What only a leader keeps.
struct LeaderState: Sendable {
    /// One per member, this node included (its `match` is its own durable index).
    var progress: [NodeID: Progress]
    var heartbeatElapsed = 0
    /// The voter leadership is being transferred to; proposals are refused meanwhile.
    var transferTarget: NodeID?
    /// (index, bytes) of this leader's entries not yet committed, oldest first.
    var uncommitted: [(index: LogIndex, bytes: Int)] = []
    var uncommittedBytes = 0
    /// The latest membership change this leader appended, or its first entry (the no-op): no change is
    /// proposed before this index is committed and handed out, so one change is in flight at a time and this
    /// leader has committed an entry of its own term first.
    var pendingConfIndex: LogIndex = 0
}

/// A snapshot being received in chunks.
struct IncomingSnapshot: Sendable {
    var metadata: SnapshotMetadata
    var totalBytes: UInt64
    var data: ByteBuffer
}
