import FerryModel
import FerryQueue
import FerryRaft
import FerryRouter
import FerryStorage
import FerryWire
import Logging
import NIOCore
import Prometheus

/// The node's Raft thread: every Raft group of the node, their storage and applications, driven in rounds.
///
/// A round takes everything the network threads posted (peer messages, client requests), ticks the groups
/// when a tick is due, then handles every group's readies in the order `RaftReady` requires: send `messages`
/// at once, persist all groups' writes and make them durable with **one** fsync (group commit), then send
/// `messagesAfterPersist`, apply committed entries (answering the clients that wait on them) and advance.
/// Only this thread touches the groups and the storage, so none of it needs a lock.
///
/// Time is an input: `round(_:nowMs:wallMs:)` handles one round at the time it is given, and everything in it
/// reads that time (`nowMs`, `wallMs`), never a clock; `run()` is the shell that takes the mailbox's events
/// and the clock's time. A driver other than `run()` (a simulator) calls `round` itself.
package final class NodeRuntime: @unchecked Sendable {
    let config: NodeConfig
    let storage: NodeStorage
    package let mailbox = Mailbox()
    /// Where the round's frames go (the peer connections).
    package var transport: (any PeerSender)?
    /// Sends outbox moves to destination leaders on other nodes, over the peer connections.
    package var forwarder: (any RouterTransport)?
    /// The node's TLS, when its ports use it: the certificate's expiry and the refused connections, for
    /// `/metrics` and `ferry cluster status` (set before `run()`).
    package var tls: (any TLSReport)?
    /// The access keys of the applied catalog, for the threads that verify requests (the SQS API), published
    /// whenever an applied entry or snapshot changes them.
    package let keys = KeyTable()
    /// The file system of the data directory, total and free bytes (`NodeHealth`); nil: unknown (the simulator).
    package var diskSpace: (@Sendable () -> (total: UInt64, free: UInt64))?
    /// Group commit durations and leadership changes, for `NodeHealth`.
    var healthRecord = HealthRecord()
    /// The current round's time: monotonic (timers, liveness, long polls) and this node's wall clock (sent to peers).
    private(set) var nowMs: Int64
    private(set) var wallMs: Int64
    /// The round's cluster time (`PeerClocks`; nil while a majority's clocks do not agree): what entries are
    /// stamped with (`GroupDriver.stamp`). Local deadlines (long polls) use the monotonic `nowMs`.
    private(set) var clusterWallMs: Int64?
    /// The peers' wall clocks, from their `alive` frames.
    var peerClocks = PeerClocks()
    /// When the next tick is due: a driver must run a round by then.
    package private(set) var nextTickMs: Int64
    /// Partition groups with a batch of outbox moves on its way, and when it left.
    var movesInFlight: [UInt64: Int64] = [:]
    let raftConfig: RaftConfig
    var groups: [UInt64: GroupDriver] = [:] {
        didSet { orderedGroups = groups.keys.sorted().map { groups[$0]! } }
    }
    /// The groups by id: the loops of every round walk this instead of sorting ids.
    var orderedGroups: [GroupDriver] = []
    /// Frames to send this round, per peer: one write and one flush per peer per round.
    var outgoing: [UInt64: [ByteBuffer]] = [:]
    /// Sends routed in this round, per partition group in arrival order: `proposePendingSends` packs them into as
    /// few entries as it can once the round's events are handled (one Raft entry, one WAL record, one
    /// replication frame for many clients' batches; `SendPacking`).
    var pendingSends: [UInt64: [(requests: [SendRequest], reply: @Sendable (ClientResponse) -> Void)]] = [:]
    var pendingSendGroups: [UInt64] = []
    /// Receives that found nothing and wait (long poll), per group.
    var parked = PollBook<ParkedReceive>()
    /// Long polls that only watch a partition (`awaitMessages`, `summarizeDeliverable`), per group.
    var awaiting = PollBook<PartitionPoll>()
    var bootstrapProposed = false
    var running = true
    /// Set by SIGTERM: hand leaderships off until this deadline, then stop.
    var stopDeadlineMs: Int64?
    /// Stopped as a crash would: nothing more is written.
    var crashed = false
    var balancer: LeaderBalancer
    var tickCount: UInt64 = 0
    /// When each peer was last heard from (any frame), and the peers silent for an election timeout.
    var liveness: PeerLiveness
    let metrics = NodeMetrics()
    var seed: UInt64
    /// The nodes the peer connections cover (`reconcileMembership`), and who to tell when they change.
    var peerIDs: [UInt64] = []
    package var onPeersChanged: (([CatalogNode]) -> Void)?
    var forgetProposed = false
    /// Membership checks (every 5 ticks) in a row that found the metadata group without a known leader.
    var metadataLeaderlessTicks = 0
    /// Readies written to the log and not yet completed, in batches in the order they were taken
    /// (`processReadies`): a batch completes once it is durable (or needs no sync) and every earlier one has.
    var written: [WrittenBatch] = []
    /// Batches numbered so far; batches up to `durableBatches` are durable; the last one that needs a sync.
    var writtenBatches: UInt64 = 0
    var durableBatches: UInt64 = 0
    var syncNeededThrough: UInt64 = 0
    /// The group commit in flight covers the batches up to this one (nil: none in flight).
    var syncCovers: UInt64?
    /// Where the group commit's fdatasync runs: inline unless the node sets a storage thread (issue 19).
    package var syncExecutor: any StorageSyncExecutor = InlineSyncExecutor()
    /// Why the rounds stopped on their own (a storage failure: a failed fsync, an I/O error); nil otherwise.
    package internal(set) var storageFailure: String?
    /// Why this node refuses writes (its disk is full); nil when it does not.
    package private(set) var storageFull: String?
    /// Whether this node's fsyncs are slow (`DiskHealth`): it then leads nothing it can hand off.
    var diskHealth: DiskHealth
    /// Peers that say their disk is slow: leader balancing hands them nothing.
    var slowPeers: Set<UInt64> = []
    /// Where snapshots are encoded and written (`maybeSnapshot`): inline unless the node sets a thread.
    package var snapshotExecutor: any SnapshotExecutor = InlineSnapshotExecutor()
    /// Numbers the snapshots started, so that a result finds the group that asked for it.
    var snapshotTickets: UInt64 = 0

    /// - Parameters:
    ///   - nowMs, wallMs: the time of the first round (monotonic, wall clock).
    ///   - seed: seeds the groups' election timers (a simulator gives its own).
    package init(
        config: NodeConfig,
        storage: NodeStorage,
        nowMs: Int64 = MonotonicClock.nowMs(),
        wallMs: Int64 = MonotonicClock.wallMs(),
        seed: UInt64? = nil
    ) throws {
        self.config = config
        self.storage = storage
        self.nowMs = nowMs
        self.wallMs = wallMs
        self.clusterWallMs = config.members.count == 1 ? wallMs : nil
        nextTickMs = nowMs + Int64(config.tickMs)
        var raft = RaftConfig()
        raft.electionTimeoutTicks = config.electionTicks
        raft.heartbeatIntervalTicks = config.heartbeatTicks
        self.raftConfig = raft
        self.seed = seed ?? config.nodeID &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: wallMs)
        balancer = LeaderBalancer(me: config.nodeID)
        diskHealth = DiskHealth(slowMs: Int64(config.slowDiskMs))
        liveness = PeerLiveness(
            me: config.nodeID,
            peers: config.members.map(\.id),
            silenceMs: Int64(config.electionTicks) * Int64(config.tickMs),
            nowMs: nowMs
        )
        // A node that joins a running cluster opens the metadata group empty: it learns the membership from the
        // leader that adds it, never from its own list of members.
        let voters = config.join ? [] : config.members.map(\.id).sorted()
        try openGroup(Catalog.metadataGroup, voters: voters, catalog: Catalog(), partition: nil)
        peerIDs = config.members.map(\.id).sorted()
        reconcileGroups()
    }

    var metadata: GroupDriver { groups[Catalog.metadataGroup]! }
    var catalog: Catalog { metadata.catalog! }

    // MARK: The loop

    func stop(graceful: Bool) { mailbox.post(.stop(graceful: graceful)) }

    /// The shell: rounds until stopped, each with the events posted so far and the clock's time.
    func run() {
        while running {
            let wait = Double(max(0, nextTickMs - MonotonicClock.nowMs())) / 1_000
            let events = mailbox.take(timeoutSeconds: wait)
            round(events, nowMs: MonotonicClock.nowMs(), wallMs: MonotonicClock.wallMs())
        }
        finish()
    }

    /// Groups on this node repairing after storage damage (issue 18).
    package var repairingGroups: [UInt64] { orderedGroups.filter(\.core.repairing).map(\.groupID) }
    /// Whether rounds go on (false once stopped, crashed, or storage failed).
    package var isRunning: Bool { running }

    /// Every group here is quiesced: nothing will change until a client, a peer or a deadline wakes one.
    package var isQuiet: Bool { written.isEmpty && syncCovers == nil && orderedGroups.allSatisfy(\.quiesced) }

    /// One round at the given time: the events, then the round's packed sends, a tick when one is due (with
    /// housekeeping), every group's readies, and the round's frames.
    package func round(_ events: [NodeEvent], nowMs: Int64, wallMs: Int64) {
        self.nowMs = max(self.nowMs, nowMs)
        self.wallMs = wallMs
        for event in events { handle(event) }
        clusterWallMs = peerClocks.clusterWallMs(localWallMs: wallMs, nowMs: self.nowMs, members: peerIDs)
        if crashed { return }
        do {
            try reapSync()
        } catch {
            NodeLog.log(.error, "storage failed, stopping: \(error)", .storage, event: "storage-failed")
            storageFailure = "\(error)"
            running = false
            return
        }
        // While a group commit runs, the round's sends wait for it and are packed with those that arrive
        // meanwhile: entries (and the records and frames that carry them) stay as large as when each round waited
        // for its fsync; the rounds in between step the peers' messages and write the followers' entries.
        if syncCovers == nil { proposePendingSends() }
        if self.nowMs >= nextTickMs {
            tickGroups(now: self.nowMs)
            nextTickMs = self.nowMs + Int64(config.tickMs)
            housekeeping()
        }
        do {
            try processReadies()
        } catch {
            NodeLog.log(.error, "storage failed, stopping: \(error)", .storage, event: "storage-failed")
            storageFailure = "\(error)"
            running = false
        }
        repairDamagedGroups()
        flush()
        if let deadline = stopDeadlineMs, groups.values.allSatisfy({ !$0.isLeader }) || self.nowMs >= deadline {
            running = false
        }
    }

    /// After the last round: every waiting client is answered (outcome unknown), and, unless this was a
    /// crash, the storage is synced.
    package func finish() {
        for group in orderedGroups { group.failWaiters(notIn: .max) }
        failPendingSends()
        if !crashed { try? storage.sync() }
    }

    /// Readies of every group through `RaftReadyLoop`: each ready's sends and writes, one group commit for all,
    /// then each ready's durable half.
    ///
    /// Asynchronous storage writes (issue 19): the group commit's fdatasync runs on `syncExecutor`. While it
    /// runs, later rounds go on taking readies: their `messages` leave (a leader's appends) and their writes are
    /// buffered in the log; the next group commit starts once this one has finished and covers all of them. The
    /// durable half of a batch (acknowledgements, votes, applies, answers) waits for the commit that covers it,
    /// in order. Inline, the commit finishes before `startSync` returns and a round is what it was.
    ///
    /// A full disk (issue 18) stops this half-way without losing anything: the writes stay buffered in the log
    /// (`WriteAheadLog.flush`), the batches wait in `written`, no new ready is taken (so no vote, no
    /// acknowledgement and no heartbeat leaves: the other nodes elect a leader among themselves), clients are
    /// refused (`storageFull`), and every round tries the group commit again until space returns.
    private func processReadies() throws {
        try reapSync()
        try completeWritten()
        if storageFull != nil {
            guard try startSync() else { return }
            try completeWritten()
        }
        for _ in 0..<8 {
            var batch: [(GroupDriver, RaftReady)] = []
            var mustSync = false
            for group in orderedGroups {
                while let ready = group.core.readyIfAny() {
                    if let soft = ready.softState {
                        group.isLeader = soft.role == .leader
                        if soft.role == .preCandidate || soft.role == .candidate { group.elections += 1 }
                        if let leader = soft.leader, leader != group.leader { group.leaderChanges += 1 }
                        if (soft.leader ?? 0) != group.leader {
                            let term = group.core.status.term
                            healthRecord.recordLeader(
                                group: group.groupID,
                                term: term,
                                leader: soft.leader ?? 0,
                                atMs: wallMs
                            )
                            NodeLog.log(
                                .info,
                                soft.leader.map { "group \(group.groupID) term \(term): node \($0) leads" }
                                    ?? "group \(group.groupID) term \(term): no leader (an election runs)",
                                .raft,
                                event: "leader",
                                group: group.groupID
                            )
                        }
                        group.leader = soft.leader ?? 0
                    }
                    // A repair's end is written before the ready's writes: before any vote it may now cast.
                    try recordFinishedRepair(group)
                    var performer = NodeReadyPerformer(runtime: self, group: group)
                    try RaftReadyLoop.write(ready, to: &performer)
                    mustSync = mustSync || ready.mustSync
                    batch.append((group, ready))
                }
            }
            guard !batch.isEmpty else { return }
            writtenBatches += 1
            written.append(WrittenBatch(number: writtenBatches, readies: batch, mustSync: mustSync))
            if mustSync { syncNeededThrough = writtenBatches }
            // `messages` may leave before this node's writes are durable (a leader's appends to its followers):
            // sending them now lets the followers' fsyncs run while this one does.
            flush()
            guard try startSync() else { return }
            try completeWritten()
        }
    }

    /// Starts the group commit of every batch written so far, unless one is in flight (the next one covers what
    /// is written meanwhile) or no batch waits for one. False while the disk is full: the node then refuses
    /// writes (`storageFull`).
    private func startSync() throws -> Bool {
        try reapSync()
        guard storage.syncInFlight == nil, syncCovers == nil, syncNeededThrough > durableBatches else { return true }
        let sync: WALSync?
        do {
            sync = try storage.beginSync()
        } catch {
            guard case .noSpace(let path) = error else { throw error }
            if storageFull == nil {
                NodeLog.error(
                    "no space left on device (\(path)): node \(config.nodeID) refuses writes and waits for space; "
                        + "nothing acknowledged is lost",
                    .storage
                )
            }
            storageFull = "node \(config.nodeID): no space left on device (\(path)); retry elsewhere or later"
            return false
        }
        if storageFull != nil {
            NodeLog.warning("space returned: node \(config.nodeID) writes again", .storage)
            storageFull = nil
        }
        guard let sync else {
            // Nothing unsynced: what is written was made durable by an earlier sync (a segment roll).
            durableBatches = writtenBatches
            return true
        }
        syncCovers = writtenBatches
        syncExecutor.start(sync)
        try reapSync()
        return true
    }

    /// Records a finished group commit: the batches it covers are durable. A sync still running is left alone.
    func reapSync() throws {
        guard let covers = syncCovers else { return }
        if let sync = storage.syncInFlight {
            guard sync.isFinished else { return }
            try storage.finishSync()
            recordSync(nanoseconds: storage.lastSyncNanoseconds)
        }
        // (Without a sync in flight, a synchronous one of the storage, a roll's, finished it.)
        durableBatches = max(durableBatches, covers)
        syncCovers = nil
    }

    /// The group commit's duration: the fsync histogram and the disk's health.
    private func recordSync(nanoseconds: Int64) {
        metrics.fsyncSeconds.recordNanoseconds(nanoseconds)
        healthRecord.recordSync(nanoseconds: nanoseconds)
        guard diskHealth.record(ms: nanoseconds / 1_000_000) else { return }
        if diskHealth.isSlow {
            NodeLog.warning(
                "slow disk: the last group commits took \(diskHealth.medianMs) ms (median; slow_disk_ms "
                    + "\(config.slowDiskMs)); handing leaderships to followers",
                .storage
            )
        } else {
            NodeLog.info("disk no longer slow: group commits take \(diskHealth.medianMs) ms (median)", .storage)
        }
    }

    /// The durable half of the written batches, in order, as far as they are durable (or need no sync).
    private func completeWritten() throws {
        while let first = written.first, first.number <= durableBatches || !first.mustSync {
            written.removeFirst()
            try complete(first.readies)
        }
    }

    /// The durable half of readies whose writes are durable: sends, restores, applies, advances, snapshots.
    private func complete(_ pending: [(GroupDriver, RaftReady)]) throws {
        var catalogChanged = false
        for (group, ready) in pending {
            var performer = NodeReadyPerformer(runtime: self, group: group)
            try RaftReadyLoop.complete(ready, by: &performer)
            catalogChanged = catalogChanged || performer.catalogChanged
            if let soft = ready.softState, soft.role != .leader {
                group.failWaiters(notIn: .max)
            }
            try maybeSnapshot(group)
        }
        if catalogChanged { reconcileGroups() }
    }

    func queue(_ messages: [RaftMessage], group: UInt64) {
        for message in messages {
            outgoing[message.to, default: []].append(PeerFrame(groupID: group, message: message).encoded())
        }
    }

    private func flush() {
        guard !outgoing.isEmpty else { return }
        let batch = outgoing
        outgoing = [:]
        for peer in batch.keys.sorted() { transport?.send(batch[peer]!, to: peer) }
    }
}

/// Readies taken in one pass of `NodeRuntime.processReadies` and written to the log together.
struct WrittenBatch {
    var number: UInt64
    var readies: [(GroupDriver, RaftReady)]
    /// Some ready of the batch must be durable before its durable half (`RaftReady.mustSync`).
    var mustSync: Bool
}

/// The node's side of the ready loop: a group's writes go to its log in the node's storage (made durable by
/// the round's one group commit), messages to the peers' outgoing batches, committed entries to the group's
/// state machine (a partition or the catalog).
struct NodeReadyPerformer: RaftReadyPerformer {
    typealias Failure = any Error

    let runtime: NodeRuntime
    let group: GroupDriver
    /// A catalog entry or snapshot was applied: the node reconciles its groups after the round.
    var catalogChanged = false

    mutating func send(_ messages: [RaftMessage]) { runtime.queue(messages, group: group.groupID) }

    mutating func persist(snapshot: Snapshot) throws { try group.log.applySnapshot(snapshot) }

    mutating func persist(entries: [Entry]) throws { try group.log.append(entries) }

    mutating func persist(hardState: HardState) throws { try group.log.setHardState(hardState) }

    mutating func sendAfterPersist(_ messages: [RaftMessage]) { send(messages) }

    mutating func restore(_ snapshot: Snapshot) throws {
        if group.catalog != nil {
            group.catalog = try Catalog.restore(from: snapshot.data)
            catalogChanged = true
        } else {
            group.partition = try QueuePartition.restore(from: snapshot.data)
        }
        group.lastSnapshotIndex = snapshot.metadata.index
        group.lastSnapshotBytes = snapshot.data.readableBytes
        group.appliedBytesSinceSnapshot = 0
        NodeLog.log(
            .info,
            "group \(group.groupID) installed a snapshot at \(snapshot.metadata.index)",
            .raft,
            event: "snapshot-installed",
            group: group.groupID
        )
    }

    mutating func apply(_ entries: [Entry]) {
        for entry in entries {
            if case .catalog? = group.apply(entry) { catalogChanged = true }
        }
    }

    mutating func advance(_ ready: RaftReady) { group.core.advance(ready) }
}
