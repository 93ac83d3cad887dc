/// Why a log read failed.
public enum RaftLogError: Error, Sendable, Hashable {
    /// The index lies below the first retained entry: it was compacted into a snapshot.
    case compacted
    /// The index lies beyond the last entry.
    case unavailable
    /// The snapshot is being rewritten; ask again later.
    case snapshotTemporarilyUnavailable
    /// The storage failed; the group must stop (never guess around a broken disk).
    case storage(String)
    /// A stored record or snapshot read back damaged (issue 18): the group stops on this node, and its driver
    /// discards the log and starts it again repairing (`RaftCore.repairing`).
    case corrupt(String)
}

/// How `RaftCore` reads the log it has handed to the driver to persist.
///
/// Implemented by `MemoryLog` (tests and the simulator) and by `FerryStorage`'s segment log. The core never
/// writes through this protocol: the driver writes (`RaftStorage`) what a `RaftReady` tells it to.
///
/// The reader reflects every write the driver has made, synced or not. The core tracks on its own which part
/// is durable (`RaftCore.advance(_:)`).
public protocol RaftLogReader: AnyObject {
    /// The hard state to start from after a restart, and the metadata of the latest snapshot (membership, and
    /// the index the application's state machine is restored to).
    func initialState() throws(RaftLogError) -> (HardState, SnapshotMetadata)

    /// Index of the first entry still held (`snapshot index + 1`); `1` for a fresh log.
    var firstIndex: LogIndex { get }

    /// Index of the last entry held, or the snapshot index when no entry follows it.
    var lastIndex: LogIndex { get }

    /// The term of the entry at `index`.
    /// - Precondition: none; out-of-range indexes throw.
    /// - Returns: for `index == firstIndex - 1`, the snapshot's term (0 for a fresh log).
    /// - Throws: `.compacted` if `index < firstIndex - 1`; `.unavailable` if `index > lastIndex`.
    func term(at index: LogIndex) throws(RaftLogError) -> Term

    /// Entries in `[low, high)`, at most `maxBytes` of them (but at least one, if any are in range).
    /// - Precondition: `low <= high`.
    /// - Throws: `.compacted` if `low < firstIndex`; `.unavailable` if `high > lastIndex + 1`.
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(RaftLogError) -> [Entry]

    /// The most recent snapshot, to send to a follower that needs compacted entries.
    func snapshot() throws(RaftLogError) -> Snapshot
}

/// How a driver writes what `RaftReady` asks it to persist. `MemoryLog` and `FerryStorage` implement it.
///
/// A reference type: the driver writes through it while the core reads through the same object.
public protocol RaftStorage: RaftLogReader {
    /// Stores the hard state (atomically: term, vote and commit together).
    func setHardState(_ state: HardState) throws(RaftLogError)

    /// Appends entries, first discarding any held entries at or after `entries.first.index`.
    /// - Precondition: `entries` are contiguous and `entries.first.index <= lastIndex + 1`.
    func append(_ entries: [Entry]) throws(RaftLogError)

    /// Replaces the whole log with `snapshot` (a snapshot received from the leader): every held entry is
    /// dropped, and the log continues at `snapshot.metadata.index + 1`.
    func applySnapshot(_ snapshot: Snapshot) throws(RaftLogError)

    /// Records a snapshot the application took at an applied index, then discards entries up to
    /// `compactTo` (which must not exceed the snapshot's index).
    func createSnapshot(_ snapshot: Snapshot, compactTo: LogIndex) throws(RaftLogError)
}
