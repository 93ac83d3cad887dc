import FerryQueue
import FerryRaft
import FerryStorage
import FerryWire
import NIOCore

/// What applying one entry produced, for the client waiting on it.
enum AppliedResult {
    case catalog(CatalogResult)
    case queue(QueueResult)
}

/// One Raft group on this node: the core, its storage, its application, and the clients waiting for entries.
/// Lives on the node's Raft thread only.
final class GroupDriver {
    let groupID: UInt64
    var core: RaftCore
    let log: GroupLog
    /// The application: the catalog (metadata group) or a queue partition; exactly one is set. Optionals, so
    /// that applying mutates in place (an enum payload would be copied).
    var catalog: Catalog?
    var partition: QueuePartition?
    /// Clients waiting for the entry at an index proposed in a term.
    var waiters: [LogIndex: (term: Term, reply: (AppliedResult?) -> Void)] = [:]
    /// The leader's last entry stamp, when (monotonic) it was made, and the term it was made in.
    var lastStampMs: Int64 = 0
    var lastStampAtMs: Int64 = 0
    var stampTerm: Term = 0
    var lastSnapshotIndex: LogIndex
    /// The size of the group's last snapshot (0: none taken or installed since the node started), and the bytes
    /// of the entries applied since it was started: `SnapshotCadence`.
    var lastSnapshotBytes = 0
    var appliedBytesSinceSnapshot = 0
    /// The snapshot being encoded and written off the Raft thread, if one is (`NodeRuntime.maybeSnapshot`).
    var snapshotTicket: UInt64?
    var lastTimeProposalMs: Int64 = 0
    /// Role and leader as of the latest ready: read on every round and tick, where reading them from `core` (a
    /// large value in a class) would copy it.
    var isLeader = false
    var leader: UInt64 = 0
    /// Not ticked: a leader with nothing to replicate, or a follower its leader told so (DESIGN §6). Any Raft
    /// message but a heartbeat answer, any proposal, and a follower's loss of the leader's node wake it.
    var quiesced = false
    /// Consecutive ticks this leader had nothing to replicate.
    var quietTicks = 0
    /// After its leader's node was lost, this node campaigns again every two ticks (at most this many times)
    /// while no leader is known: its first pre-vote may reach a peer that has not noticed the loss yet and still
    /// honours the old leader's lease.
    var campaignRetries = 0
    var campaignRetryTicks = 0
    /// Elections this node started for the group (pre-votes included) and leader changes it saw: metrics.
    var elections: UInt64 = 0
    var leaderChanges: UInt64 = 0

    init(
        groupID: UInt64,
        core: RaftCore,
        log: GroupLog,
        catalog: Catalog?,
        partition: QueuePartition?,
        snapshotIndex: LogIndex
    ) {
        self.groupID = groupID
        self.core = core
        self.log = log
        self.catalog = catalog
        self.partition = partition
        self.lastSnapshotIndex = snapshotIndex
    }

    var applicationSnapshot: ByteBuffer { catalog?.snapshot() ?? partition!.snapshot() }

    /// The leader's stamp for a new entry (issue 18): the cluster time `clusterWallMs` (`PeerClocks`), never
    /// behind the group's time; without a cluster time, the last stamp advanced by the monotonic clock `nowMs`.
    /// A new leadership starts from the time its state machine applied, so time never goes back across leaders
    /// and a leader's own clock, however far off, moves nothing.
    func stamp(clusterWallMs: Int64?, nowMs: Int64) -> Int64 {
        lastStampMs = timeMs(clusterWallMs: clusterWallMs, nowMs: nowMs)
        lastStampAtMs = nowMs
        stampTerm = core.term
        return lastStampMs
    }

    /// The stamp an entry would get now (`stamp` without making it): what the leader compares the partition's
    /// deadlines to.
    func timeMs(clusterWallMs: Int64?, nowMs: Int64) -> Int64 {
        var last = lastStampMs
        var lastAtMs = lastStampAtMs
        if stampTerm != core.term {
            last = max(last, partition?.nowMs ?? 0)
            lastAtMs = nowMs
        }
        return max(last, clusterWallMs ?? last + max(0, nowMs - lastAtMs))
    }

    /// Proposes one payload; `reply` gets the applied result, or nil when the entry was lost (leader change).
    func propose(_ payload: ByteBuffer, reply: @escaping (AppliedResult?) -> Void) throws(ProposalError) {
        wake()
        let ticket = try core.propose([payload])
        waiters[ticket.firstIndex] = (ticket.term, reply)
    }

    /// Ticks again from the next round.
    func wake() {
        quiesced = false
        quietTicks = 0
    }

    /// Applies one committed entry; answers its waiter when this node proposed it in the entry's term.
    func apply(_ entry: Entry) -> AppliedResult? {
        var result: AppliedResult?
        appliedBytesSinceSnapshot += entry.payload.readableBytes
        if entry.kind == .normal && entry.payload.readableBytes > 0 {
            if catalog != nil {
                if let applied = catalog?.apply(index: entry.index, payload: entry.payload) {
                    result = .catalog(applied)
                }
            } else if let applied = partition?.apply(index: entry.index, payload: entry.payload) {
                result = .queue(applied)
            }
        }
        if let waiter = waiters.removeValue(forKey: entry.index) {
            waiter.reply(waiter.term == entry.term ? result : nil)
        }
        return result
    }

    /// Fails every waiter whose entry can no longer be applied in its term (after a leadership change).
    /// In index order: the clients' answers leave in a deterministic order (a simulated run must replay).
    func failWaiters(notIn term: Term) {
        for index in waiters.keys.sorted() {
            guard let waiter = waiters[index], waiter.term != term else { continue }
            waiters[index] = nil
            waiter.reply(nil)
        }
    }
}
