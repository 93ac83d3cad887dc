/// Entries (and possibly a snapshot) that are not yet known durable. etcd's `unstable`.
///
/// - Invariant: if `snapshot` is set, `offset == snapshot.index + 1`.
/// - Invariant: `offset <= offsetInProgress <= offset + entries.count`. Entries below `offsetInProgress`
///   have been handed to the driver in a `RaftReady` and are being written; entries from `offsetInProgress`
///   on have not been handed out yet.
struct UnstableLog: Sendable {
    var snapshot: Snapshot?
    var snapshotInProgress = false
    var entries: [Entry] = []
    /// The index of `entries[0]` (or where it would be).
    var offset: LogIndex
    var offsetInProgress: LogIndex

    init(offset: LogIndex) {
        self.offset = offset
        self.offsetInProgress = offset
    }

    /// The first index of the log when an unstable snapshot replaces the stable one.
    var firstIndexFromSnapshot: LogIndex? { snapshot.map { $0.metadata.index + 1 } }

    var lastIndex: LogIndex? {
        if let last = entries.last { return last.index }
        return snapshot?.metadata.index
    }

    func term(at index: LogIndex) -> Term? {
        if index < offset {
            if let snapshot, snapshot.metadata.index == index { return snapshot.metadata.term }
            return nil
        }
        guard let last = lastIndex, index <= last else { return nil }
        return entries[Int(index - offset)].term
    }

    /// Entries not yet handed out for persistence.
    var nextEntries: ArraySlice<Entry> {
        entries[Int(offsetInProgress - offset)...]
    }

    /// A snapshot not yet handed out for persistence.
    var nextSnapshot: Snapshot? {
        snapshotInProgress ? nil : snapshot
    }

    /// Marks everything currently held as handed out (called when a `RaftReady` is built).
    mutating func acceptInProgress() {
        if let last = entries.last { offsetInProgress = last.index + 1 }
        if snapshot != nil { snapshotInProgress = true }
    }

    /// The driver reports entries up to (index, term) durable: drop them from here.
    ///
    /// A report for an entry that was since replaced (its term differs) is stale and ignored.
    mutating func stableTo(index: LogIndex, term: Term) {
        guard let held = self.term(at: index) else { return }
        if index < offset { return }  // the snapshot's own index: handled by stableSnapshotTo
        guard held == term else { return }
        let drop = Int(index + 1 - offset)
        entries.removeFirst(drop)
        offset = index + 1
        offsetInProgress = max(offsetInProgress, offset)
    }

    mutating func stableSnapshotTo(index: LogIndex) {
        if let snapshot, snapshot.metadata.index == index {
            self.snapshot = nil
            snapshotInProgress = false
        }
    }

    /// Replaces everything with a snapshot received from the leader.
    mutating func restore(_ snapshot: Snapshot) {
        offset = snapshot.metadata.index + 1
        offsetInProgress = offset
        entries = []
        self.snapshot = snapshot
        snapshotInProgress = false
    }

    /// Appends `newEntries`, discarding held entries at or after the first new index.
    mutating func truncateAndAppend(_ newEntries: [Entry]) {
        guard let first = newEntries.first else { return }
        let fromIndex = first.index
        if fromIndex == offset + LogIndex(entries.count) {
            entries.append(contentsOf: newEntries)
        } else if fromIndex <= offset {
            // Replace everything unstable; the stable log's tail from fromIndex is overwritten on persist.
            entries = newEntries
            offset = fromIndex
            offsetInProgress = offset
        } else {
            entries.removeSubrange(Int(fromIndex - offset)...)
            entries.append(contentsOf: newEntries)
            offsetInProgress = min(offsetInProgress, fromIndex)
        }
    }
}
