/// Everything the driver must do after some events: the output contract of `RaftCore` (etcd's `Ready`).
///
/// The driver handles each ready in this order, and hands readies to storage in the order it got them:
///
/// 1. Send `messages` at once: they do not depend on this ready's writes (a leader's appends may go out
///    before its own copy is durable; Raft thesis §10.2.1).
/// 2. Persist, in this order: `snapshot` (install it: the log restarts after it, and the application restores
///    its state machine from it), `entries` (append, truncating any held entries at or after the first new
///    index), `hardState`. If `mustSync`, make them durable (fsync) before step 3. A node-wide group commit may
///    cover many readies of many groups with one fsync.
/// 3. Only when the writes of this ready (and of every earlier one) are durable: send `messagesAfterPersist`
///    (votes and acknowledgements that promise durability), apply `committedEntries` in order, and call
///    `RaftCore.advance(_:)` with this ready.
///
/// Further readies may be taken before `advance` is called for earlier ones; their writes must follow.
/// `RaftReadyLoop` performs steps 1–2 (`write`) and 3 (`complete`) in this order for every driver.
public struct RaftReady: Sendable {
    /// Changed term, vote or commit index to persist; nil when unchanged since the previous ready.
    public var hardState: HardState?
    /// A snapshot received from the leader to install before `entries`.
    public var snapshot: Snapshot?
    /// Entries to append to stable storage.
    public var entries: [Entry] = []
    /// Messages to send now.
    public var messages: [RaftMessage] = []
    /// Messages to send only after this ready's writes are durable.
    public var messagesAfterPersist: [RaftMessage] = []
    /// Committed entries to apply, in log order, after this ready's writes are durable.
    public var committedEntries: [Entry] = []
    /// Role or leader changed since the previous ready; informational.
    public var softState: SoftState?
    /// True when the writes must be fsynced before step 3 (entries, snapshot, or a new term or vote). A
    /// commit-index-only change needs no sync: losing it only replays entries after a restart.
    public var mustSync: Bool = false

    public init() {}

    /// True when the driver has nothing to do.
    public var isEmpty: Bool {
        hardState == nil && snapshot == nil && entries.isEmpty && messages.isEmpty
            && messagesAfterPersist.isEmpty && committedEntries.isEmpty && softState == nil
    }
}
