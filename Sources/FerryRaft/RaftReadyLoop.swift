/// What a driver does with the parts of a `RaftReady`; `RaftReadyLoop` calls these in the contract's order.
///
/// Conformers: the node's runtime (many groups, one group commit), the simulator (durability completes later,
/// at a simulated fsync) and the golden transcripts' environment (synchronous, every step written down).
public protocol RaftReadyPerformer {
    associatedtype Failure: Error

    /// Step 1: messages that do not wait for this ready's writes.
    mutating func send(_ messages: [RaftMessage]) throws(Failure)
    /// Step 2, first write: install a snapshot (the log restarts after it).
    mutating func persist(snapshot: Snapshot) throws(Failure)
    /// Step 2, second write: append entries (truncating any held at or after the first one's index).
    mutating func persist(entries: [Entry]) throws(Failure)
    /// Step 2, third write: term, vote and commit index.
    mutating func persist(hardState: HardState) throws(Failure)
    /// Step 3, once this ready's writes and every earlier one's are durable: votes and acknowledgements.
    mutating func sendAfterPersist(_ messages: [RaftMessage]) throws(Failure)
    /// Step 3: the state machine restores the installed snapshot's state (before any entry after it applies).
    mutating func restore(_ snapshot: Snapshot) throws(Failure)
    /// Step 3: the committed entries, in log order (never called with none).
    mutating func apply(_ entries: [Entry]) throws(Failure)
    /// Step 3, last: `RaftCore.advance(_:)` with this ready on the performer's core.
    mutating func advance(_ ready: RaftReady) throws(Failure)
}

/// The ready contract (`RaftReady`) as one procedure that the runtime, the simulator and the golden transcripts
/// all follow: `write` is steps 1 and 2 (without the fsync), `complete` is step 3, once the writes are durable.
/// Between the two the driver makes the writes durable its own way: one group commit for every group of a node,
/// a simulated fsync that completes later, or nothing (synchronous storage).
public enum RaftReadyLoop {
    /// Steps 1 and 2: sends `messages`, then writes the snapshot, the entries and the hard state, in that order.
    public static func write<Performer: RaftReadyPerformer>(
        _ ready: RaftReady,
        to performer: inout Performer
    ) throws(Performer.Failure) {
        try performer.send(ready.messages)
        if let snapshot = ready.snapshot { try performer.persist(snapshot: snapshot) }
        if !ready.entries.isEmpty { try performer.persist(entries: ready.entries) }
        if let hardState = ready.hardState { try performer.persist(hardState: hardState) }
    }

    /// Step 3: sends `messagesAfterPersist`, restores an installed snapshot, applies the committed entries in
    /// order, then advances the core.
    public static func complete<Performer: RaftReadyPerformer>(
        _ ready: RaftReady,
        by performer: inout Performer
    ) throws(Performer.Failure) {
        try performer.sendAfterPersist(ready.messagesAfterPersist)
        if let snapshot = ready.snapshot { try performer.restore(snapshot) }
        if !ready.committedEntries.isEmpty { try performer.apply(ready.committedEntries) }
        try performer.advance(ready)
    }
}
