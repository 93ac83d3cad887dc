import FerryRaft
import NIOCore

/// When appends become durable (DESIGN §1).
public enum FsyncPolicy: Sendable, Hashable, CustomStringConvertible {
    /// fdatasync before anything is acknowledged (the default; group commit makes it cheap).
    case always
    /// An explicit opt-out: the node acknowledges appends before they are durable and calls
    /// `NodeStorage.sync()` from a timer every `milliseconds`; a crash of the whole cluster may lose that much.
    case interval(milliseconds: Int)
    /// Never fdatasync (`sync()` only writes): for tests; a node warns at start-up.
    case never

    /// What a node prints at start-up for a policy that may lose acknowledged writes.
    public var startupWarning: String? {
        switch self {
        case .always: return nil
        case .interval(let ms):
            return "fsync=interval:\(ms): appends are acknowledged before they are durable; a power loss of a "
                + "majority can lose up to \(ms) ms of acknowledged messages"
        case .never:
            return "fsync=never: nothing is ever fsynced; for tests only, a crash can lose acknowledged messages"
        }
    }

    public var description: String {
        switch self {
        case .always: return "always"
        case .interval(let ms): return "interval:\(ms)"
        case .never: return "never"
        }
    }

    /// Parses `always`, `interval:<ms>` or `never`.
    public init?(parsing text: String) {
        if text == "always" {
            self = .always
        } else if text == "never" {
            self = .never
        } else if text.hasPrefix("interval:"), let ms = Int(text.dropFirst(9)), ms > 0 {
            self = .interval(milliseconds: ms)
        } else {
            return nil
        }
    }
}

/// One node's storage: the shared write-ahead log, per-group indexes and snapshots.
///
/// Layout: `<directory>/wal/*.wal` (all groups), `<directory>/snapshots/<group>/*.snap`. Every group's entries,
/// hard state and compaction marks are records of the one log, so a single fsync makes all of them durable,
/// and a group's hard state is atomic with its entries.
public final class NodeStorage {
    public let directory: String
    let fileSystem: any FileSystem
    let wal: WriteAheadLog
    public let fsync: FsyncPolicy
    private var groups: [UInt64: GroupState] = [:]
    /// Groups whose stored state is unusable and could not even be discarded for a repair: they stay stopped,
    /// the others serve.
    public private(set) var failedGroups: [UInt64: StorageError] = [:]
    /// Groups this start-up put into repair (issue 18), with why: their logs were discarded, and they fetch
    /// what they lack from their peers (`RaftCore.repairing`). Every other group serves as before.
    public private(set) var repairs: [UInt64: String] = [:]
    /// The write-ahead log damage this start-up found and answered.
    public var damage: [WALDamage] { unanswered }
    private var unanswered: [WALDamage] = []
    /// Set when this start-up found log damage: a group opened later (its records may all have been in the
    /// damaged bytes) repairs too.
    private var newGroupsRepair: String?

    public init(
        fileSystem: any FileSystem,
        directory: String,
        fsync: FsyncPolicy = .always,
        segmentBytes: Int = 64 << 20
    ) throws(StorageError) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.fsync = fsync
        var replayed: [UInt64: GroupState] = [:]
        var failed: [UInt64: StorageError] = [:]
        var answered: Set<[UInt64]> = []
        wal = try WriteAheadLog(
            fileSystem: fileSystem,
            directory: joinPath(directory, "wal"),
            segmentBytes: segmentBytes
        ) { (record, location) throws(StorageError) in
            if record.group == WALRecord.nodeRecordGroup {
                if record.kind == .damageAnswered { answered.insert([record.index, record.term]) }
                return
            }
            // A repair start discards everything before it, a replay failure included.
            if record.kind == .repair && record.index == WALRecord.repairStart { failed[record.group] = nil }
            guard failed[record.group] == nil else { return }
            let state = replayed[record.group] ?? GroupState()
            do throws(StorageError) {
                try state.replay(record, at: location)
            } catch {
                failed[record.group] = error
            }
            replayed[record.group] = state
        }
        for (id, state) in replayed where state.baseProvisional && failed[id] == nil {
            failed[id] = .corruptRecord(
                path: joinPath(directory, "wal"),
                offset: 0,
                reason: "group \(id): entries from \(state.baseIndex + 1) on, but nothing accounts for those before"
            )
        }
        groups = replayed
        try fileSystem.createDirectory(joinPath(directory, "snapshots"))
        // Protocol-aware recovery: damage is never believed and never silently dropped. A group whose own records
        // do not replay repairs; damage in the log, whose records' owners cannot be known, repairs every group.
        var toRepair: [UInt64: String] = [:]
        for (id, error) in failed { toRepair[id] = error.description }
        unanswered = wal.damage.filter { !answered.contains([$0.segment, UInt64($0.offset)]) }
        if let first = unanswered.first {
            let reason = "write-ahead log damage (\(unanswered.count) place(s), the first \(first))"
            for id in replayed.keys where toRepair[id] == nil { toRepair[id] = reason }
            newGroupsRepair = reason
        }
        for id in toRepair.keys.sorted() {
            do throws(StorageError) {
                try discard(id, reason: toRepair[id]!)
            } catch {
                failedGroups[id] = error
            }
        }
        if !unanswered.isEmpty {
            try wal.append(
                unanswered.map {
                    WALRecord(
                        group: WALRecord.nodeRecordGroup,
                        index: $0.segment,
                        term: UInt64($0.offset),
                        kind: .damageAnswered
                    )
                }
            )
        }
        if !toRepair.isEmpty { try wal.sync() }
    }

    /// Discards a group's log for a repair: a `repair` start record, after which nothing before it is believed
    /// (on this start-up and every later one). The group opens again (`group(_:conf:)`) from its newest readable
    /// snapshot, or empty, and repairs (`GroupLog.repair`).
    public func discard(_ id: UInt64, reason: String) throws(StorageError) {
        let state = groups[id] ?? GroupState()
        let term = state.knownTerm
        let location = try wal.append([WALRecord(group: id, index: WALRecord.repairStart, term: term, kind: .repair)])[
            0
        ]
        state.discardForRepair(term: term, at: location.segment)
        groups[id] = state
        failedGroups[id] = nil
        repairs[id] = reason
    }

    /// The sequence number of the log segment being written; it changes when a full segment is sealed (and
    /// fsynced, so every earlier append is durable).
    public var activeSegment: UInt64 { wal.activeSequence }

    /// Every group with stored state.
    public var groupIDs: [UInt64] { groups.keys.sorted() }

    /// The storage of one group; `conf` is its membership when nothing is stored for it yet. Call it once per
    /// group and keep the `GroupLog`: two of them for one group would keep separate read caches.
    /// - Throws: the error that stopped this group (a damaged snapshot or log), leaving other groups serving.
    /// A group whose snapshot is damaged (the log needs one that no longer reads back) is discarded and repairs.
    public func group(_ id: UInt64, conf: ConfState) throws(StorageError) -> GroupLog {
        if let error = failedGroups[id] { throw error }
        if groups[id] == nil, let reason = newGroupsRepair {
            try discard(id, reason: reason)
        }
        let state = groups[id] ?? GroupState()
        groups[id] = state
        do {
            return try GroupLog(id: id, node: self, state: state, conf: conf)
        } catch {
            switch error {
            case .badSnapshot, .corruptRecord:
                do {
                    try discard(id, reason: error.description)
                    return try GroupLog(id: id, node: self, state: groups[id]!, conf: conf)
                } catch {
                    failedGroups[id] = error
                    throw error
                }
            default:
                failedGroups[id] = error
                throw error
            }
        }
    }

    /// Group commit: one fsync covers the appends of every group since the previous one.
    public func sync() throws(StorageError) {
        guard let sync = try beginSync() else { return }
        sync.run()
        try finishSync()
    }

    /// Group commit, first half (asynchronous storage writes, `WriteAheadLog.beginSync()`): writes what is
    /// buffered and returns the fdatasync to run on any thread, then `finishSync()`; nil when nothing is left
    /// to sync (or, under `fsync: never`, once written).
    public func beginSync() throws(StorageError) -> WALSync? {
        switch fsync {
        case .always, .interval: return try wal.beginSync()
        case .never:
            try wal.flush()
            return nil
        }
    }

    /// Group commit, second half: waits for the sync in flight (or runs it) and records it.
    public func finishSync() throws(StorageError) { try wal.finishSync() }

    /// The group commit whose fdatasync runs now, if any.
    public var syncInFlight: WALSync? { wal.syncInFlight }

    /// How long the last finished fdatasync took.
    public var lastSyncNanoseconds: Int64 { wal.lastSyncNanoseconds }

    func append(_ records: [WALRecord]) throws(StorageError) -> [RecordLocation] {
        if wal.needsRoll {
            do {
                try rollWithCheckpoint()
            } catch {
                // A full disk: the records go on into the active segment's buffer, and the roll is tried again
                // with the next append (the caller's group commit reports the full disk).
                guard case .noSpace = error else { throw error }
            }
        }
        return try wal.append(records)
    }

    /// Starts a new segment whose first records restate every group's compaction point and hard state. Replay
    /// from any segment on then sees each group's base before its entries, and older segments are needed only
    /// for the entries they hold: an idle group never pins an old segment.
    func rollWithCheckpoint() throws(StorageError) {
        try wal.roll()
        var records: [WALRecord] = []
        var owners: [(GroupState, kind: WALRecord.Kind)] = []
        for id in groups.keys.sorted() {
            let state = groups[id]!
            if state.repairing || state.abstainThroughTerm > 0 {
                // The repair state, restated without discarding anything (phase 3, or phase 2 with its term).
                records.append(
                    WALRecord(
                        group: id,
                        index: state.repairing ? WALRecord.repairOngoing : WALRecord.repairDone,
                        term: state.abstainThroughTerm,
                        kind: .repair
                    )
                )
                owners.append((state, .repair))
            }
            if state.baseIndex > 0 {
                records.append(WALRecord(group: id, index: state.baseIndex, term: state.baseTerm, kind: .compacted))
                owners.append((state, .compacted))
            }
            if state.hardState != .empty {
                var vote = ByteBuffer()
                vote.writeInteger(state.hardState.vote, endianness: .little)
                records.append(
                    WALRecord(
                        group: id,
                        index: state.hardState.commit,
                        term: state.hardState.term,
                        kind: .hardState,
                        payload: vote
                    )
                )
                owners.append((state, .hardState))
            }
        }
        guard !records.isEmpty else { return }
        let locations = try wal.append(records)
        for (owner, location) in zip(owners, locations) {
            switch owner.kind {
            case .compacted: owner.0.markSegment = location.segment
            case .repair: owner.0.repairSegment = location.segment
            default: owner.0.hardStateSegment = location.segment
            }
        }
    }

    func read(_ location: RecordLocation) throws(StorageError) -> WALRecord {
        try wal.read(location)
    }

    func snapshotDirectory(_ group: UInt64) -> String {
        joinPath(joinPath(directory, "snapshots"), String(group))
    }

    /// Deletes log segments that no group needs any more: every group has compacted past all entries the
    /// segment holds (hard states and marks are rewritten into newer segments by `checkpoint`).
    public func removeObsoleteSegments() throws(StorageError) {
        var keepFrom = wal.activeSequence
        for state in groups.values {
            if let oldest = state.oldestNeededSegment { keepFrom = min(keepFrom, oldest) }
        }
        guard wal.segmentSequences.contains(where: { $0 < keepFrom }) else { return }
        // The compaction marks that make those segments obsolete must be durable before the segments go:
        // otherwise a crash could bring back an old compaction point with its entries deleted (found by the
        // simulation over FerryStorage, seed 6).
        try wal.sync()
        try wal.removeSegments(below: keepFrom)
    }
}
