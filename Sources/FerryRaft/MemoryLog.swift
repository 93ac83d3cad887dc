import NIOCore

/// An in-memory `RaftStorage`: for tests, golden transcripts and the simulator.
///
/// Not thread-safe; one driver owns it. The simulator rebuilds it from its disk model after a crash.
public final class MemoryLog: RaftStorage {
    /// The latest snapshot (index 0, term 0 for a fresh log).
    public private(set) var latestSnapshot: Snapshot
    /// The entry just before `heldEntries`: the compaction point. At or below the snapshot's index.
    public private(set) var baseIndex: LogIndex
    public private(set) var baseTerm: Term
    /// Entries `baseIndex + 1 ... lastIndex`.
    public private(set) var heldEntries: [Entry]
    public private(set) var hardState: HardState

    public init(conf: ConfState) {
        self.latestSnapshot = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, conf: conf), data: .init())
        self.baseIndex = 0
        self.baseTerm = 0
        self.heldEntries = []
        self.hardState = .empty
    }

    /// Rebuilds a log from durable parts (simulator restarts).
    /// - Precondition: `entries` start at `baseIndex + 1` and `baseIndex <= snapshot index <= lastIndex`.
    public init(snapshot: Snapshot, baseIndex: LogIndex, baseTerm: Term, entries: [Entry], hardState: HardState) {
        if let first = entries.first {
            precondition(first.index == baseIndex + 1, "entries must follow the base")
        }
        precondition(baseIndex <= snapshot.metadata.index, "base above the snapshot")
        precondition(snapshot.metadata.index <= baseIndex + LogIndex(entries.count), "snapshot beyond the log")
        self.latestSnapshot = snapshot
        self.baseIndex = baseIndex
        self.baseTerm = baseTerm
        self.heldEntries = entries
        self.hardState = hardState
    }

    public func initialState() throws(RaftLogError) -> (HardState, SnapshotMetadata) {
        (hardState, latestSnapshot.metadata)
    }

    public var firstIndex: LogIndex { baseIndex + 1 }

    public var lastIndex: LogIndex { baseIndex + LogIndex(heldEntries.count) }

    public func term(at index: LogIndex) throws(RaftLogError) -> Term {
        if index < baseIndex { throw .compacted }
        if index == baseIndex { return baseTerm }
        if index > lastIndex { throw .unavailable }
        return heldEntries[Int(index - baseIndex - 1)].term
    }

    public func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(RaftLogError) -> [Entry] {
        precondition(low <= high, "entries(from: \(low), to: \(high))")
        if low < firstIndex { throw .compacted }
        if high > lastIndex + 1 { throw .unavailable }
        var result: [Entry] = []
        var bytes = 0
        var index = low
        while index < high {
            let entry = heldEntries[Int(index - baseIndex - 1)]
            bytes += entry.byteCount
            if !result.isEmpty && bytes > maxBytes { break }
            result.append(entry)
            index += 1
        }
        return result
    }

    public func snapshot() throws(RaftLogError) -> Snapshot { latestSnapshot }

    public func setHardState(_ state: HardState) throws(RaftLogError) {
        hardState = state
    }

    public func append(_ entries: [Entry]) throws(RaftLogError) {
        guard var first = entries.first else { return }
        precondition(first.index <= lastIndex + 1, "append at \(first.index) leaves a gap after \(lastIndex)")
        var entries = entries[...]
        // Entries at or below the compaction point are committed and already held in the snapshot.
        while first.index <= baseIndex {
            entries = entries.dropFirst()
            guard let next = entries.first else { return }
            first = next
        }
        heldEntries.removeSubrange(Int(first.index - baseIndex - 1)...)
        heldEntries.append(contentsOf: entries)
    }

    public func applySnapshot(_ snapshot: Snapshot) throws(RaftLogError) {
        latestSnapshot = snapshot
        baseIndex = snapshot.metadata.index
        baseTerm = snapshot.metadata.term
        heldEntries = []
    }

    public func createSnapshot(_ snapshot: Snapshot, compactTo: LogIndex) throws(RaftLogError) {
        precondition(compactTo <= snapshot.metadata.index, "compact beyond the snapshot")
        precondition(snapshot.metadata.index <= lastIndex, "snapshot beyond the log")
        if snapshot.metadata.index > latestSnapshot.metadata.index {
            latestSnapshot = snapshot
        }
        guard compactTo > baseIndex else { return }
        let newBaseTerm = try term(at: compactTo)
        heldEntries.removeSubrange(..<Int(compactTo - baseIndex))
        baseIndex = compactTo
        baseTerm = newBaseTerm
    }
}
