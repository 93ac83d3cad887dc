/// The append messages in flight to one follower, with their last index and byte size (etcd `Inflights`).
///
/// - Invariant: `indexes` is strictly increasing; `bytes` is the sum of the sizes in `sizes`.
struct Inflights: Sendable, Hashable {
    let maxMessages: Int
    /// 0 = no byte limit.
    let maxBytes: Int
    private(set) var indexes: [LogIndex] = []
    private(set) var sizes: [Int] = []
    private(set) var bytes = 0

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    var count: Int { indexes.count }

    var isFull: Bool {
        indexes.count >= maxMessages || (maxBytes > 0 && bytes >= maxBytes)
    }

    mutating func add(lastIndex: LogIndex, bytes size: Int) {
        precondition(!isFull, "adding to full inflights")
        precondition(indexes.last.map { $0 < lastIndex } ?? true, "inflight index \(lastIndex) not increasing")
        indexes.append(lastIndex)
        sizes.append(size)
        bytes += size
    }

    /// Frees every message whose last index is `<= index` (acknowledged).
    mutating func free(upTo index: LogIndex) {
        var n = 0
        while n < indexes.count && indexes[n] <= index {
            bytes -= sizes[n]
            n += 1
        }
        if n > 0 {
            indexes.removeFirst(n)
            sizes.removeFirst(n)
        }
    }

    mutating func freeFirst() {
        guard let first = indexes.first else { return }
        free(upTo: first)
    }

    mutating func reset() {
        indexes.removeAll(keepingCapacity: true)
        sizes.removeAll(keepingCapacity: true)
        bytes = 0
    }
}

/// How the leader replicates to one follower (etcd `tracker.StateType`, thesis §4.2.1 "pipelining").
enum ReplicationState: Sendable, Hashable {
    /// Searching for the match point: one append at a time, then wait for the answer or a heartbeat.
    case probe
    /// The follower is in sync: appends are pipelined up to the in-flight limits.
    case replicate
    /// The follower needs the snapshot at `index`; appends pause until it has it.
    case snapshot(index: LogIndex)
}

/// A snapshot being streamed to one follower in chunks.
struct SnapshotTransfer: Sendable, Hashable {
    var snapshot: Snapshot
    /// Bytes the follower confirmed holding.
    var ackedOffset: UInt64
    /// Bytes sent so far (at most one chunk ahead of `ackedOffset`).
    var sentOffset: UInt64
}

/// The leader's view of one follower (Raft Figure 2 `nextIndex`, `matchIndex`), etcd `tracker.Progress`.
///
/// - Invariant: `match < next`.
struct Progress: Sendable, Hashable {
    var match: LogIndex
    var next: LogIndex
    /// The follower said it is repairing: its match does not count toward commit.
    var repairing = false
    var state: ReplicationState = .probe
    /// In probe state: an append was sent since the last answer or heartbeat response.
    var probeSent = false
    var inflights: Inflights
    var isLearner: Bool
    /// The leader tick at which this follower last answered (check-quorum).
    var lastHeardTick: UInt64
    /// The snapshot being streamed (only in the snapshot state).
    var snapshotTransfer: SnapshotTransfer?

    init(next: LogIndex, inflights: Inflights, isLearner: Bool, lastHeardTick: UInt64) {
        self.match = 0
        self.next = next
        self.inflights = inflights
        self.isLearner = isLearner
        self.lastHeardTick = lastHeardTick
    }

    /// True when no append may be sent now.
    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        // After a snapshot, resume right after it (or after match, whichever is further).
        if case .snapshot(let index) = state {
            next = max(match + 1, index + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        inflights.reset()
        snapshotTransfer = nil
    }

    mutating func becomeReplicate() {
        next = match + 1
        state = .replicate
        probeSent = false
        inflights.reset()
        snapshotTransfer = nil
    }

    mutating func becomeSnapshot(_ snapshot: Snapshot) {
        state = .snapshot(index: snapshot.metadata.index)
        probeSent = false
        inflights.reset()
        snapshotTransfer = SnapshotTransfer(snapshot: snapshot, ackedOffset: 0, sentOffset: 0)
    }

    /// An accepted append up to `index`: raise match (and next). Returns false if the answer is stale.
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// A rejected append at `rejected` with the follower's hint: move `next` back. Returns false if stale.
    mutating func maybeDecrease(rejected: LogIndex, matchHint: LogIndex) -> Bool {
        if case .replicate = state {
            // In replicate state next runs ahead of match; a rejection at or below match is stale.
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        // In probe state only the answer to the latest probe (at next - 1) counts.
        if next - 1 != rejected { return false }
        next = max(min(rejected, matchHint + 1), match + 1)
        probeSent = false
        return true
    }

    /// Records an append of entries up to `lastIndex` (`bytes` of them) that was just sent.
    mutating func sentEntries(lastIndex: LogIndex, bytes: Int) {
        switch state {
        case .replicate:
            if lastIndex >= next {
                inflights.add(lastIndex: lastIndex, bytes: bytes)
                next = lastIndex + 1
            }
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("append sent in snapshot state")
        }
    }
}
