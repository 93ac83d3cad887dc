/// The log as the core sees it: durable entries read through `RaftLogReader`, plus `UnstableLog` on top.
///
/// - Invariant: `applied <= applying <= committed <= lastIndex`.
/// - Invariant: `firstIndex - 1 <= applied` (compaction only covers applied entries).
struct RaftLog {
    let storage: any RaftLogReader
    var unstable: UnstableLog
    /// Highest index known committed (on a majority, durable).
    var committed: LogIndex
    /// Highest index handed to the application to apply (in a ready not yet advanced).
    var applying: LogIndex
    /// Highest index the application reported applied.
    var applied: LogIndex
    /// Limit on the bytes of committed entries handed out per ready.
    let maxCommittedBytesPerReady: Int

    /// - Parameter snapshotIndex: the index the application's state is restored to (its latest snapshot).
    init(storage: any RaftLogReader, snapshotIndex: LogIndex, maxCommittedBytesPerReady: Int) {
        self.storage = storage
        self.unstable = UnstableLog(offset: storage.lastIndex + 1)
        // Everything up to the snapshot was applied before the snapshot was taken.
        precondition(snapshotIndex >= storage.firstIndex - 1, "log compacted beyond the snapshot")
        self.committed = snapshotIndex
        self.applying = snapshotIndex
        self.applied = snapshotIndex
        self.maxCommittedBytesPerReady = maxCommittedBytesPerReady
    }

    var firstIndex: LogIndex {
        unstable.firstIndexFromSnapshot ?? storage.firstIndex
    }

    var lastIndex: LogIndex {
        unstable.lastIndex ?? storage.lastIndex
    }

    /// The highest index handed out for persistence (durable once the ready carrying it is advanced).
    var lastHandedOutIndex: LogIndex { unstable.offsetInProgress - 1 }

    /// The term of the entry at `index`.
    /// - Throws: `.compacted` below `firstIndex - 1`, `.unavailable` above `lastIndex`, or a storage error.
    func term(at index: LogIndex) throws(RaftLogError) -> Term {
        if let term = unstable.term(at: index) { return term }
        let dummy = firstIndex - 1
        if index < dummy { throw .compacted }
        if index > lastIndex { throw .unavailable }
        return try storage.term(at: index)
    }

    /// The term at `index`, or nil when it is compacted or beyond the end. Storage failures propagate.
    func termIfPresent(at index: LogIndex) throws(RaftLogError) -> Term? {
        do {
            return try term(at: index)
        } catch {
            switch error {
            case .compacted, .unavailable: return nil
            case .snapshotTemporarilyUnavailable, .storage, .corrupt: throw error
            }
        }
    }

    var lastTerm: Term {
        get throws(RaftLogError) { try term(at: lastIndex) }
    }

    func matchTerm(index: LogIndex, term: Term) throws(RaftLogError) -> Bool {
        try termIfPresent(at: index) == term
    }

    /// Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours?
    func isUpToDate(lastIndex candidateIndex: LogIndex, lastTerm candidateTerm: Term) throws(RaftLogError) -> Bool {
        let ourTerm = try lastTerm
        return candidateTerm > ourTerm || (candidateTerm == ourTerm && candidateIndex >= lastIndex)
    }

    /// Entries in `[low, high)` up to `maxBytes` (at least one if any), from storage and the unstable tail.
    /// - Throws: `.compacted` if `low < firstIndex`.
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(RaftLogError) -> [Entry] {
        if low >= high { return [] }
        if low < firstIndex { throw .compacted }
        precondition(high <= lastIndex + 1, "entries up to \(high) beyond last \(lastIndex)")
        var result: [Entry] = []
        var bytes = 0
        if low < unstable.offset {
            let stableHigh = min(high, unstable.offset)
            result = try storage.entries(from: low, to: stableHigh, maxBytes: maxBytes)
            bytes = result.reduce(0) { $0 + $1.byteCount }
            if LogIndex(result.count) < stableHigh - low { return result }  // byte limit reached
        }
        if high > unstable.offset {
            let start = max(low, unstable.offset)
            for index in start..<high {
                let entry = unstable.entries[Int(index - unstable.offset)]
                bytes += entry.byteCount
                if !result.isEmpty && bytes > maxBytes { break }
                result.append(entry)
            }
        }
        return result
    }

    /// The first index in `newEntries` whose term differs from ours (or that we do not have), or nil when all
    /// of them are already present.
    func findConflict(_ newEntries: [Entry]) throws(RaftLogError) -> LogIndex? {
        for entry in newEntries where try !matchTerm(index: entry.index, term: entry.term) {
            return entry.index
        }
        return nil
    }

    /// The largest index `<= index` whose term is `<= term`, with that term. Used for fast backtracking: the
    /// leader skips every index in our log whose term cannot match its `prevTerm`.
    func findConflictByTerm(index: LogIndex, term: Term) throws(RaftLogError) -> (index: LogIndex, term: Term) {
        var index = index
        while true {
            guard let ourTerm = try termIfPresent(at: index) else { return (index, 0) }
            if ourTerm <= term { return (index, ourTerm) }
            if index == 0 { return (0, 0) }
            index -= 1
        }
    }

    /// Follower side of AppendEntries (Raft §5.3): if our log matches at (prevIndex, prevTerm), append what is
    /// new (truncating a conflicting suffix), advance the commit index, and return the last new index.
    mutating func maybeAppend(_ request: AppendRequest) throws(RaftLogError) -> LogIndex? {
        guard try matchTerm(index: request.prevIndex, term: request.prevTerm) else { return nil }
        let lastNew = request.prevIndex + LogIndex(request.entries.count)
        if let conflict = try findConflict(request.entries) {
            precondition(
                conflict > committed,
                "entry \(conflict) conflicts with committed entry (committed \(committed))"
            )
            let skip = Int(conflict - request.entries[0].index)
            unstable.truncateAndAppend(Array(request.entries[skip...]))
        }
        commit(to: min(request.commit, lastNew))
        return lastNew
    }

    /// Appends entries at the end (leader proposals).
    mutating func append(_ newEntries: [Entry]) {
        guard let first = newEntries.first else { return }
        precondition(first.index == lastIndex + 1, "append at \(first.index) after \(lastIndex)")
        precondition(first.index > committed, "append would overwrite committed \(committed)")
        unstable.truncateAndAppend(newEntries)
    }

    /// Raises the commit index. A lower value is stale information and ignored.
    mutating func commit(to index: LogIndex) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) beyond last \(lastIndex)")
        committed = index
    }

    /// Replaces the log with a snapshot received from the leader.
    mutating func restore(_ snapshot: Snapshot) {
        unstable.restore(snapshot)
        committed = snapshot.metadata.index
    }

    /// The committed entries to hand out for applying next: after `applying`, up to what is committed and
    /// handed out for persistence, within the byte limit.
    func nextCommittedEntries() throws(RaftLogError) -> [Entry] {
        let low = max(applying + 1, firstIndex)
        let high = min(committed, lastHandedOutIndex) + 1
        if low >= high { return [] }
        return try entries(from: low, to: high, maxBytes: maxCommittedBytesPerReady)
    }
}
