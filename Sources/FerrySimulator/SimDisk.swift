import FerryRaft

/// A node's disk: what is durable, and the writes since the last fsync.
///
/// The contract every storage obeys (and `FerryStorage` will be tested against): writes become durable in
/// the order they were made, all at once at the next sync. A crash keeps the durable state plus some prefix
/// of the unsynced writes; the last write of that prefix may be torn, and recovery discards a torn write, so
/// a crash is "keep a random prefix of the unsynced writes".
public struct SimDisk {
    public enum Write {
        case hardState(HardState)
        case entries([Entry])
        case installSnapshot(Snapshot)
        case createSnapshot(Snapshot, compactTo: LogIndex)
    }

    /// The durable state, as a log a restarted node reads.
    private(set) var durable: MemoryLog
    /// What the running process sees: durable state plus every unsynced write (the page cache).
    private(set) var view: MemoryLog
    private(set) var pending: [Write] = []

    init(conf: ConfState) {
        durable = MemoryLog(conf: conf)
        view = MemoryLog(conf: conf)
    }

    mutating func write(_ write: Write) {
        Self.apply(write, to: view)
        pending.append(write)
    }

    /// fsync: the oldest `count` unsynced writes (those issued before the fsync) become durable.
    mutating func sync(count: Int) {
        precondition(count <= pending.count, "syncing \(count) of \(pending.count) writes")
        for write in pending.prefix(count) { Self.apply(write, to: durable) }
        pending.removeFirst(count)
    }

    /// A crash: a prefix of `keep` unsynced writes survives; the view is rebuilt from what survived.
    mutating func crash(keep: Int) {
        for write in pending.prefix(keep) { Self.apply(write, to: durable) }
        pending.removeAll()
        view = Self.copy(durable)
    }

    static func copy(_ log: MemoryLog) -> MemoryLog {
        MemoryLog(
            snapshot: log.latestSnapshot,
            baseIndex: log.baseIndex,
            baseTerm: log.baseTerm,
            entries: log.heldEntries,
            hardState: log.hardState
        )
    }

    private static func apply(_ write: Write, to log: MemoryLog) {
        do {
            switch write {
            case .hardState(let state): try log.setHardState(state)
            case .entries(let entries): try log.append(entries)
            case .installSnapshot(let snapshot): try log.applySnapshot(snapshot)
            case .createSnapshot(let snapshot, let compactTo): try log.createSnapshot(snapshot, compactTo: compactTo)
            }
        } catch {
            preconditionFailure("memory log write failed: \(error)")
        }
    }
}
