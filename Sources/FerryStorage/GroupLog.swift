import FerryRaft
import NIOCore

/// What the node knows of one group's log: rebuilt at start-up by replaying the log's records, then kept
/// current by the group's writes. It holds every entry's term (8 bytes per entry) and where each batch lives,
/// never the payloads.
final class GroupState {
    struct Batch {
        var first: LogIndex
        var count: Int
        var location: RecordLocation
    }

    var hardState = HardState.empty
    var hardStateSegment: UInt64?
    /// The compaction point: entries up to it are gone (in a snapshot).
    var baseIndex: LogIndex = 0
    var baseTerm: Term = 0
    var markSegment: UInt64?
    /// The index and term of the newest snapshot the log refers to (0, 0 for none).
    var snapshotIndex: LogIndex = 0
    var snapshotTerm: Term = 0
    /// Entry batches after `baseIndex`, in order; a batch may start at or below the base (partly compacted).
    var batches: [Batch] = []
    /// `terms[i]` is the term of entry `baseIndex + 1 + i`.
    var terms: [Term] = []

    var lastIndex: LogIndex { baseIndex + LogIndex(terms.count) }
    /// Replay met entries past the end (the segment before them was deleted after a compaction whose mark
    /// comes later): the base is provisional until a mark at or above it arrives.
    var baseProvisional = false
    /// Repairing after damage (`RaftCore.repairing`), the term through which it abstains from voting, and the
    /// segment of the latest `repair` record.
    var repairing = false
    var abstainThroughTerm: Term = 0
    var repairSegment: UInt64?

    /// The oldest log segment this group still reads.
    var oldestNeededSegment: UInt64? {
        [hardStateSegment, markSegment, repairSegment, batches.first?.location.segment].compactMap { $0 }.min()
    }

    /// The highest term this group's records show (its hard state's, or its last entry's).
    var knownTerm: Term { max(hardState.term, terms.last ?? 0, baseTerm) }

    /// Discards the log for a repair (a `repair` start record): nothing of it is believed any more.
    func discardForRepair(term: Term, at segment: UInt64) {
        restart(after: 0, term: 0)
        snapshotIndex = 0
        snapshotTerm = 0
        hardState = HardState(term: term, vote: 0, commit: 0)
        hardStateSegment = segment
        markSegment = segment
        repairSegment = segment
        repairing = true
    }

    func replay(_ record: WALRecordHeader, at location: RecordLocation) throws(StorageError) {
        switch record.kind {
        case .entries:
            try appendIndex(
                first: record.index,
                count: record.entryCount,
                term: record.term,
                at: location,
                replaying: true
            )
        case .hardState:
            hardState = HardState(term: record.term, vote: record.vote, commit: record.index)
            hardStateSegment = location.segment
        case .snapshotInstalled:
            restart(after: record.index, term: record.term)
            snapshotIndex = record.index
            snapshotTerm = record.term
            markSegment = location.segment
        case .compacted:
            compact(to: record.index, term: record.term)
            if record.index > snapshotIndex {
                snapshotIndex = record.index
                snapshotTerm = record.term
            }
            markSegment = location.segment
        case .repair:
            switch record.index {
            case WALRecord.repairStart:
                discardForRepair(term: record.term, at: location.segment)
            case WALRecord.repairDone:
                repairing = false
                abstainThroughTerm = max(abstainThroughTerm, record.term)
                repairSegment = location.segment
            default:
                repairing = true
                repairSegment = location.segment
            }
        case .synced, .damageAnswered:
            break
        }
    }

    /// Records `count` appended entries of `term` from `first` on, first discarding any at or after `first`.
    ///
    /// During replay, entries may start past the end: the entries in between sat in a deleted segment, and a
    /// compaction mark later in the log (written before that segment was deleted) covers them. The base moves
    /// up provisionally; a mark at or above it must follow, or the group fails at the end of replay.
    func appendIndex(
        first: LogIndex,
        count: Int,
        term: Term,
        at location: RecordLocation,
        replaying: Bool = false
    ) throws(StorageError) {
        guard count > 0 else { return }
        if replaying && first > lastIndex + 1 {
            restart(after: first - 1, term: 0)
            baseProvisional = true
        }
        guard first <= lastIndex + 1 else {
            throw .corruptRecord(
                path: "wal segment \(location.segment)",
                offset: location.offset,
                reason: "entries start at \(first) after last index \(lastIndex)"
            )
        }
        truncate(from: first)
        let last = first + LogIndex(count) - 1
        guard last > baseIndex else { return }
        batches.append(Batch(first: first, count: count, location: location))
        terms.append(contentsOf: repeatElement(term, count: Int(last - max(first - 1, baseIndex))))
    }

    /// Drops entries at or after `index`.
    func truncate(from index: LogIndex) {
        guard index <= lastIndex else { return }
        terms.removeSubrange(Int(max(index, baseIndex + 1) - baseIndex - 1)...)
        while let last = batches.last, last.first >= index { batches.removeLast() }
        if let last = batches.last, last.first + LogIndex(last.count) > index {
            batches[batches.count - 1].count = Int(index - last.first)
        }
    }

    func compact(to index: LogIndex, term: Term) {
        if baseProvisional && index >= baseIndex { baseProvisional = false }
        guard index > baseIndex else {
            if index == baseIndex { baseTerm = term }
            return
        }
        if index >= lastIndex {
            restart(after: index, term: term)
            return
        }
        terms.removeFirst(Int(index - baseIndex))
        baseIndex = index
        baseTerm = term
        // One removal of every covered batch: one `removeFirst()` per batch moved the rest each time, quadratic in
        // the batches since the last snapshot (100,000s of them in a partition filled with small sends).
        batches.removeFirst(batches.prefix { $0.first + LogIndex($0.count) - 1 <= index }.count)
    }

    func restart(after index: LogIndex, term: Term) {
        baseProvisional = false
        baseIndex = index
        baseTerm = term
        terms = []
        batches = []
    }
}

/// One group's `RaftStorage` on the node's shared log. Writes are appended at once and become durable with
/// the node's next `NodeStorage.sync()`.
public final class GroupLog: RaftStorage {
    public let id: UInt64
    let node: NodeStorage
    let state: GroupState
    let conf: ConfState
    /// The newest snapshot, loaded lazily; its metadata is always known.
    private var snapshotMetadata: SnapshotMetadata
    /// The snapshot read at open, handed to the first `snapshot()` (the node restores from it) and then dropped:
    /// a snapshot is read from its file when a follower needs it, not held in memory (issue 19).
    private var openedSnapshot: Snapshot?
    /// The last batch read, decoded: sequential reads touch each record once.
    private var cachedBatch: (location: RecordLocation, entries: [Entry])?

    init(id: UInt64, node: NodeStorage, state: GroupState, conf: ConfState) throws(StorageError) {
        self.id = id
        self.node = node
        self.state = state
        self.conf = conf
        let store = SnapshotStore(fileSystem: node.fileSystem, directory: node.snapshotDirectory(id))
        // A repairing group starts from its newest sound snapshot, or from none when none reads back (a damaged
        // one is never believed; the leader sends one).
        let newest = state.repairing ? try? store.loadNewest() : try store.loadNewest()
        if state.snapshotIndex > 0 {
            guard let newest, newest.metadata.index >= state.snapshotIndex else {
                throw .badSnapshot(
                    path: store.directory,
                    reason: "the log needs the snapshot at \(state.snapshotIndex), the newest readable is "
                        + "\(newest.map { String($0.metadata.index) } ?? "none")"
                )
            }
        }
        if let newest {
            let metadata = newest.metadata
            let held =
                metadata.index > state.baseIndex && metadata.index <= state.lastIndex
                ? state.terms[Int(metadata.index - state.baseIndex - 1)] : nil
            if metadata.index > state.lastIndex || (metadata.index > state.baseIndex && held != metadata.term) {
                // The snapshot file became durable but the log record that installs it did not (or a repair
                // discarded the log and starts again from this snapshot): install it now, in the log as well.
                state.restart(after: metadata.index, term: metadata.term)
                let location = try node.append([
                    WALRecord(group: id, index: metadata.index, term: metadata.term, kind: .snapshotInstalled)
                ])[0]
                state.markSegment = location.segment
            }
            state.snapshotIndex = max(state.snapshotIndex, metadata.index)
            openedSnapshot = newest
            snapshotMetadata = metadata
        } else {
            snapshotMetadata = SnapshotMetadata(index: 0, term: 0, conf: conf)
        }
    }

    public func initialState() throws(RaftLogError) -> (HardState, SnapshotMetadata) {
        (state.hardState, snapshotMetadata)
    }

    /// Whether the group repairs after damage, and the term through which it abstains (for `RaftCore.init`).
    public var repair: (repairing: Bool, abstainThroughTerm: Term) { (state.repairing, state.abstainThroughTerm) }

    /// Records that the repair ended (`RaftCore.repairing` became false): the group abstains from voting through
    /// `abstainThroughTerm`. Durable with the next sync, before any vote the group casts afterwards.
    public func finishRepair(abstainThroughTerm term: Term) throws(RaftLogError) {
        _ = try write(WALRecord(group: id, index: WALRecord.repairDone, term: term, kind: .repair))
        state.repairing = false
        state.abstainThroughTerm = max(state.abstainThroughTerm, term)
    }

    /// The index of the newest snapshot the log took or installed (0: none).
    public var newestSnapshotIndex: LogIndex { snapshotMetadata.index }
    public var firstIndex: LogIndex { state.baseIndex + 1 }
    public var lastIndex: LogIndex { state.lastIndex }

    public func term(at index: LogIndex) throws(RaftLogError) -> Term {
        if index < state.baseIndex { throw .compacted }
        if index == state.baseIndex { return state.baseTerm }
        if index > state.lastIndex { throw .unavailable }
        return state.terms[Int(index - state.baseIndex - 1)]
    }

    public func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(RaftLogError) -> [Entry] {
        precondition(low <= high, "entries(from: \(low), to: \(high))")
        if low < firstIndex { throw .compacted }
        if high > lastIndex + 1 { throw .unavailable }
        var result: [Entry] = []
        var bytes = 0
        var index = low
        var position = batchPosition(containing: low)
        while index < high, position < state.batches.count {
            let batch = state.batches[position]
            let entries = try decodedBatch(batch)
            while index < high && index < batch.first + LogIndex(batch.count) {
                let entry = entries[Int(index - batch.first)]
                bytes += entry.byteCount
                if !result.isEmpty && bytes > maxBytes { return result }
                result.append(entry)
                index += 1
            }
            position += 1
        }
        return result
    }

    /// The position of the batch holding `index` (binary search over batch starts).
    func batchPosition(containing index: LogIndex) -> Int {
        var low = 0
        var high = state.batches.count
        while low < high {
            let middle = (low + high) / 2
            let batch = state.batches[middle]
            if batch.first + LogIndex(batch.count) <= index { low = middle + 1 } else { high = middle }
        }
        return low
    }

    func decodedBatch(_ batch: GroupState.Batch) throws(RaftLogError) -> [Entry] {
        if let cached = cachedBatch, cached.location == batch.location { return cached.entries }
        do {
            let record = try node.read(batch.location)
            let entries = try record.decodeEntries()
            guard record.group == id, entries.first?.index == batch.first else {
                throw StorageError.corruptRecord(
                    path: "wal segment \(batch.location.segment)",
                    offset: batch.location.offset,
                    reason: "record is not the indexed batch"
                )
            }
            cachedBatch = (batch.location, entries)
            return entries
        } catch let error as StorageError {
            if case .corruptRecord = error { throw .corrupt(error.description) }
            throw .storage(error.description)
        } catch {
            // A record that read back whole but does not decode (WALDecodeError): damage too.
            throw .corrupt("wal segment \(batch.location.segment) at offset \(batch.location.offset): \(error)")
        }
    }

    public func snapshot() throws(RaftLogError) -> Snapshot {
        if let openedSnapshot {
            self.openedSnapshot = nil
            return openedSnapshot
        }
        if snapshotMetadata.index == 0 { return Snapshot(metadata: snapshotMetadata, data: ByteBuffer()) }
        do {
            let store = SnapshotStore(fileSystem: node.fileSystem, directory: node.snapshotDirectory(id))
            guard let snapshot = try store.loadNewest() else { throw RaftLogError.snapshotTemporarilyUnavailable }
            return snapshot
        } catch let error as RaftLogError {
            throw error
        } catch let error as StorageError {
            if case .badSnapshot = error { throw .corrupt(error.description) }
            throw .storage(error.description)
        } catch {
            throw .storage("\(error)")
        }
    }

    // MARK: Writes

    func write(_ record: WALRecord) throws(RaftLogError) -> RecordLocation {
        do {
            return try node.append([record])[0]
        } catch {
            throw .storage("\(error)")
        }
    }

    public func setHardState(_ hardState: HardState) throws(RaftLogError) {
        var payload = ByteBuffer()
        payload.writeInteger(hardState.vote, endianness: .little)
        let location = try write(
            WALRecord(group: id, index: hardState.commit, term: hardState.term, kind: .hardState, payload: payload)
        )
        state.hardState = hardState
        state.hardStateSegment = location.segment
    }

    public func append(_ entries: [Entry]) throws(RaftLogError) {
        guard !entries.isEmpty else { return }
        // One record per run of equal terms, so that a record's header alone says where it belongs.
        var runs: [ArraySlice<Entry>] = []
        var start = entries.startIndex
        for position in entries.indices.dropFirst() where entries[position].term != entries[position - 1].term {
            runs.append(entries[start..<position])
            start = position
        }
        runs.append(entries[start...])
        let locations: [RecordLocation]
        do {
            locations = try node.append(runs.map { WALRecord.entries(group: id, Array($0)) })
            for (run, location) in zip(runs, locations) {
                try state.appendIndex(first: run.first!.index, count: run.count, term: run.first!.term, at: location)
            }
        } catch {
            throw .storage("\(error)")
        }
        cachedBatch = (locations[locations.count - 1], Array(runs[runs.count - 1]))
    }

    public func applySnapshot(_ snapshot: Snapshot) throws(RaftLogError) {
        let metadata = snapshot.metadata
        guard try saveSnapshot(snapshot) else {
            // An installed snapshot is part of a ready's writes: the node stops, and starts again on its durable log.
            throw .storage("\(node.snapshotDirectory(id)): no space left on device for an installed snapshot")
        }
        let location = try write(
            WALRecord(group: id, index: metadata.index, term: metadata.term, kind: .snapshotInstalled)
        )
        state.restart(after: metadata.index, term: metadata.term)
        state.snapshotIndex = metadata.index
        state.snapshotTerm = metadata.term
        state.markSegment = location.segment
        cachedBatch = nil
    }

    public func createSnapshot(_ snapshot: Snapshot, compactTo: LogIndex) throws(RaftLogError) {
        guard try createSnapshotUnlessFull(snapshot, compactTo: compactTo) else {
            throw .storage("\(node.snapshotDirectory(id)): no space left on device")
        }
    }

    /// `createSnapshot`, but false when the disk is full: nothing changed (the log keeps what the snapshot
    /// would cover).
    public func createSnapshotUnlessFull(_ snapshot: Snapshot, compactTo: LogIndex) throws(RaftLogError) -> Bool {
        precondition(compactTo <= snapshot.metadata.index, "compact beyond the snapshot")
        precondition(snapshot.metadata.index <= lastIndex, "snapshot beyond the log")
        if snapshot.metadata.index > snapshotMetadata.index {
            guard try saveSnapshot(snapshot) else { return false }
        }
        guard compactTo > state.baseIndex else { return true }
        let compactTerm = try term(at: compactTo)
        let location = try write(WALRecord(group: id, index: compactTo, term: compactTerm, kind: .compacted))
        state.compact(to: compactTo, term: compactTerm)
        state.markSegment = location.segment
        if let cached = cachedBatch, cached.entries.last.map({ $0.index <= compactTo }) ?? true { cachedBatch = nil }
        return true
    }

    /// What writes this group's snapshot files, for a thread other than the Raft thread (issue 19): it touches
    /// nothing of the log. `finishSnapshot` then makes a written snapshot the log's own, on the Raft thread.
    public var snapshotWriter: SnapshotFileWriter {
        SnapshotFileWriter(fileSystem: node.fileSystem, directory: node.snapshotDirectory(id))
    }

    /// Makes a snapshot that `snapshotWriter` wrote the newest (unless one installed since is newer: then the
    /// written file is removed) and compacts the log to `compactTo`, as `createSnapshot` does.
    public func finishSnapshot(_ metadata: SnapshotMetadata, compactTo: LogIndex) throws(RaftLogError) {
        precondition(compactTo <= metadata.index, "compact beyond the snapshot")
        if metadata.index > snapshotMetadata.index {
            openedSnapshot = nil
            snapshotMetadata = metadata
        }
        do {
            try SnapshotStore(fileSystem: node.fileSystem, directory: node.snapshotDirectory(id))
                .removeOlder(than: snapshotMetadata.index)
        } catch {
            throw .storage("\(error)")
        }
        // An installed snapshot may have restarted the log past this point meanwhile: nothing left to compact.
        guard compactTo > state.baseIndex, compactTo <= state.lastIndex else { return }
        let compactTerm = try term(at: compactTo)
        let location = try write(WALRecord(group: id, index: compactTo, term: compactTerm, kind: .compacted))
        state.compact(to: compactTo, term: compactTerm)
        state.markSegment = location.segment
        if let cached = cachedBatch, cached.entries.last.map({ $0.index <= compactTo }) ?? true { cachedBatch = nil }
    }

    /// Writes the snapshot file durably (temporary file, fsync, rename, directory fsync) before any log record
    /// refers to it, then removes older snapshot files. False when the disk is full (the temporary file is
    /// removed by the next attempt).
    func saveSnapshot(_ snapshot: Snapshot) throws(RaftLogError) -> Bool {
        let store = SnapshotStore(fileSystem: node.fileSystem, directory: node.snapshotDirectory(id))
        do {
            try store.save(snapshot)
        } catch {
            if case .noSpace = error { return false }
            throw .storage("\(error)")
        }
        openedSnapshot = nil
        snapshotMetadata = snapshot.metadata
        do {
            try store.removeOlder(than: snapshot.metadata.index)
        } catch {
            throw .storage("\(error)")
        }
        return true
    }
}

/// Writes one group's snapshot files (temporary file, fsync, rename, directory fsync) and nothing else: safe on a
/// snapshot thread while the Raft thread goes on with the group (issue 19), one snapshot of a group at a time.
public struct SnapshotFileWriter: @unchecked Sendable {
    let fileSystem: any FileSystem
    let directory: String

    /// The pieces a snapshot file is written in: at most two of them wait on the device at a time.
    public static var writeBackBytes: Int { SnapshotStore.writeBackBytes }

    /// False when the disk is full (the temporary file is removed by the next attempt).
    public func write(_ snapshot: Snapshot) throws(StorageError) -> Bool {
        do {
            try SnapshotStore(fileSystem: fileSystem, directory: directory).save(snapshot)
        } catch {
            if case .noSpace = error { return false }
            throw error
        }
        return true
    }
}
