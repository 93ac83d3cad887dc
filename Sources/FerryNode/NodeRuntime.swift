import FerryQueue
import FerryRaft
import FerryRouter
import FerryStorage
import FerryWire
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
    /// The current round's time: monotonic (timers, liveness) and wall clock (entry stamps, deadlines).
    private(set) var nowMs: Int64
    private(set) var wallMs: Int64
    /// When the next tick is due: a driver must run a round by then.
    package private(set) var nextTickMs: Int64
    /// Partition groups with a batch of outbox moves on its way, and when it left.
    var movesInFlight: [UInt64: Int64] = [:]
    let raftConfig: RaftConfig
    private(set) var groups: [UInt64: GroupDriver] = [:] {
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
    private var bootstrapProposed = false
    private var running = true
    /// Set by SIGTERM: hand leaderships off until this deadline, then stop.
    private var stopDeadlineMs: Int64?
    /// Stopped as a crash would: nothing more is written.
    private var crashed = false
    private var balancer: LeaderBalancer
    var tickCount: UInt64 = 0
    /// When each peer was last heard from (any frame), and the peers silent for an election timeout.
    var liveness: PeerLiveness
    let metrics = NodeMetrics()
    private var seed: UInt64

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
        nextTickMs = nowMs + Int64(config.tickMs)
        var raft = RaftConfig()
        raft.electionTimeoutTicks = config.electionTicks
        raft.heartbeatIntervalTicks = config.heartbeatTicks
        self.raftConfig = raft
        self.seed = seed ?? config.nodeID &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: wallMs)
        balancer = LeaderBalancer(me: config.nodeID)
        liveness = PeerLiveness(
            me: config.nodeID,
            peers: config.members.map(\.id),
            silenceMs: Int64(config.electionTicks) * Int64(config.tickMs),
            nowMs: nowMs
        )
        let voters = config.members.map(\.id).sorted()
        try openGroup(Catalog.metadataGroup, voters: voters, catalog: Catalog(), partition: nil)
        reconcileGroups()
    }

    var metadata: GroupDriver { groups[Catalog.metadataGroup]! }
    var catalog: Catalog { metadata.catalog! }

    // MARK: Groups

    private func openGroup(_ id: UInt64, voters: [UInt64], catalog: Catalog?, partition: QueuePartition?) throws {
        let log = try storage.group(id, conf: ConfState(voters: voters, learners: []))
        var catalog = catalog
        var partition = partition
        let snapshot = try log.snapshot()
        if snapshot.metadata.index > 0 {
            if catalog != nil { catalog = try Catalog.restore(from: snapshot.data) }
            if partition != nil { partition = try QueuePartition.restore(from: snapshot.data) }
        }
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let core = try RaftCore(id: config.nodeID, config: raftConfig, storage: log, randomSeed: seed)
        groups[id] = GroupDriver(
            groupID: id,
            core: core,
            log: log,
            catalog: catalog,
            partition: partition,
            snapshotIndex: snapshot.metadata.index
        )
    }

    /// Opens the partition groups the catalog places here and closes those of deleted queues.
    private func reconcileGroups() {
        var wanted: Set<UInt64> = [Catalog.metadataGroup]
        for queue in catalog.sortedQueues {
            for placed in queue.partitions where placed.replicas.contains(config.nodeID) {
                wanted.insert(placed.groupID)
                guard groups[placed.groupID] == nil else { continue }
                do {
                    let partition = try QueuePartition(
                        queueName: queue.name,
                        queueID: queue.id,
                        partition: placed.partition,
                        partitionCount: UInt32(queue.partitions.count),
                        attributes: queue.attributes
                    )
                    try openGroup(placed.groupID, voters: placed.replicas.sorted(), catalog: nil, partition: partition)
                } catch {
                    NodeLog.error("cannot open group \(placed.groupID) of \(queue.name): \(error)")
                }
            }
        }
        for id in groups.keys.sorted() where !wanted.contains(id) {
            groups[id]!.failWaiters(notIn: .max)
            groups[id] = nil
        }
    }

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

    /// Whether rounds go on (false once stopped, crashed, or storage failed).
    package var isRunning: Bool { running }

    /// Every group here is quiesced: nothing will change until a client, a peer or a deadline wakes one.
    package var isQuiet: Bool { orderedGroups.allSatisfy(\.quiesced) }

    /// One round at the given time: the events, then the round's packed sends, a tick when one is due (with
    /// housekeeping), every group's readies, and the round's frames.
    package func round(_ events: [NodeEvent], nowMs: Int64, wallMs: Int64) {
        self.nowMs = max(self.nowMs, nowMs)
        self.wallMs = wallMs
        for event in events { handle(event) }
        if crashed { return }
        proposePendingSends()
        if self.nowMs >= nextTickMs {
            tickGroups(now: self.nowMs)
            nextTickMs = self.nowMs + Int64(config.tickMs)
            housekeeping()
        }
        do {
            try processReadies()
        } catch {
            NodeLog.error("storage failed, stopping: \(error)")
            running = false
        }
        flush()
        if let deadline = stopDeadlineMs, groups.values.allSatisfy({ !$0.isLeader }) || self.nowMs >= deadline {
            running = false
        }
    }

    /// After the last round: every waiting client is answered (outcome unknown), and, unless this was a
    /// crash, the storage is synced.
    package func finish() {
        for group in orderedGroups { group.failWaiters(notIn: .max) }
        if !crashed { try? storage.sync() }
    }

    /// Graceful stop: every group this node leads hands leadership to its most caught-up follower, so that
    /// clients see no failed send; the loop ends when none is led here or after `handOffMs`.
    private func beginStop(handOffMs: Int64 = 3_000) {
        stopDeadlineMs = nowMs + handOffMs
        for id in groups.keys.sorted() {
            let group = groups[id]!
            guard group.core.isLeader else { continue }
            group.wake()
            let progress = group.core.status.progress
            let best = progress.keys.filter { $0 != config.nodeID }.max {
                (progress[$0]!.match, $1) < (progress[$1]!.match, $0)
            }
            if let best { try? group.core.transferLeadership(to: best) }
        }
        NodeLog.info("stopping: handing off \(groups.values.filter { $0.core.isLeader }.count) leaderships")
    }

    /// Every few seconds (`LeaderBalancer`): a partition led here whose preferred leader is another, caught-up
    /// replica is handed back to it.
    private func balanceLeaders() {
        guard balancer.roundDue(at: nowMs, stopping: stopDeadlineMs != nil) else { return }
        var led: [LeaderBalancer.Led] = []
        for queue in catalog.sortedQueues {
            for placed in queue.partitions where placed.preferredLeader != config.nodeID {
                guard let group = groups[placed.groupID], group.core.isLeader else { continue }
                led.append(
                    LeaderBalancer.Led(
                        groupID: placed.groupID,
                        preferredLeader: placed.preferredLeader,
                        preferredMatch: group.core.status.progress[placed.preferredLeader]?.match,
                        lastIndex: group.core.lastIndex
                    )
                )
            }
        }
        for (groupID, to) in balancer.transfers(led) {
            guard let group = groups[groupID] else { continue }
            group.wake()
            try? group.core.transferLeadership(to: to)
        }
    }

    func handle(_ event: NodeEvent) {
        switch event {
        case .peer(let groupID, let message):
            heard(from: message.from)
            guard let group = groups[groupID] else { return }
            if group.quiesced, !(group.isLeader && message.body == .heartbeatResponse) { group.wake() }
            group.core.step(message)
        case .control(.alive(let from)):
            heard(from: from)
        case .control(.quiesce(let groupID, let from, let term, let commit)):
            heard(from: from)
            guard let group = groups[groupID], !group.core.isLeader, group.core.term <= term else { return }
            // The frame stands for the leader's last heartbeat (that one may have been lost with a connection):
            // step it, then stay quiet only if this log holds everything the leader committed.
            group.core.step(RaftMessage(from: from, to: config.nodeID, term: term, body: .heartbeat(commit: commit)))
            if group.core.leaderHint == from && group.core.term == term && group.core.commitIndex >= commit {
                group.quiesced = true
            }
        case .control(.forward(let from, _)), .control(.forwardReply(let from, _)):
            // Served by the peer connection's handler; never posted here.
            heard(from: from)
        case .peerLost(let peer):
            peerLost(peer)
        case .peerJoined(let peer):
            // A restarted peer knows no leaders and quiesced leaders send nothing: wake the groups led here
            // that it is a member of, so their heartbeats tell it at once.
            heard(from: peer)
            for group in orderedGroups where group.quiesced && group.isLeader {
                let membership = group.core.membership
                if membership.voters.contains(peer) || membership.learners.contains(peer) { group.wake() }
            }
        case .client(let call):
            handle(call)
        case .movesForwarded(let groupID, let ids):
            guard let ids else {
                movesInFlight[groupID] = nowMs - 1_500  // retry in half a second
                return
            }
            movesInFlight[groupID] = nil
            if let group = groups[groupID], group.isLeader {
                propose(.acknowledgeMoves(ids), to: group, refused: { _ in }) { _ in }
            }
        case .metrics(let reply):
            reply(renderMetrics())
        case .stop(let graceful):
            if !graceful {
                crashed = true
                running = false
            } else if stopDeadlineMs == nil {
                beginStop()
            }
        }
    }

    private func heard(from peer: UInt64) {
        if liveness.heard(from: peer, at: nowMs) { NodeLog.info("peer \(peer) heard again") }
    }

    /// Readies of every group: immediate sends, one group commit, then the durable half.
    private func processReadies() throws {
        for _ in 0..<8 {
            var pending: [(GroupDriver, RaftReady)] = []
            var mustSync = false
            for group in orderedGroups {
                let id = group.groupID
                while let ready = group.core.readyIfAny() {
                    if let soft = ready.softState {
                        group.isLeader = soft.role == .leader
                        if soft.role == .preCandidate || soft.role == .candidate { group.elections += 1 }
                        if let leader = soft.leader, leader != group.leader { group.leaderChanges += 1 }
                        group.leader = soft.leader ?? 0
                    }
                    queue(ready.messages, group: id)
                    if let snapshot = ready.snapshot { try group.log.applySnapshot(snapshot) }
                    if !ready.entries.isEmpty { try group.log.append(ready.entries) }
                    if let hardState = ready.hardState { try group.log.setHardState(hardState) }
                    mustSync = mustSync || ready.mustSync
                    pending.append((group, ready))
                }
            }
            guard !pending.isEmpty else { return }
            // `messages` may leave before this node's writes are durable (a leader's appends to its followers):
            // sending them now lets the followers' fsyncs run while this one does.
            flush()
            if mustSync {
                let start = ContinuousClock.now
                try storage.sync()
                metrics.fsyncSeconds.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
            }
            var catalogChanged = false
            for (group, ready) in pending {
                queue(ready.messagesAfterPersist, group: group.groupID)
                if let snapshot = ready.snapshot {
                    if group.catalog != nil {
                        group.catalog = try Catalog.restore(from: snapshot.data)
                        catalogChanged = true
                    } else {
                        group.partition = try QueuePartition.restore(from: snapshot.data)
                    }
                    group.lastSnapshotIndex = snapshot.metadata.index
                    NodeLog.info("group \(group.groupID) installed a snapshot at \(snapshot.metadata.index)")
                }
                for entry in ready.committedEntries {
                    if case .catalog? = group.apply(entry) { catalogChanged = true }
                }
                if let soft = ready.softState, soft.role != .leader {
                    group.failWaiters(notIn: .max)
                }
                group.core.advance(ready)
                try maybeSnapshot(group)
            }
            if catalogChanged { reconcileGroups() }
        }
    }

    private func maybeSnapshot(_ group: GroupDriver) throws {
        let applied = group.core.appliedIndex
        guard applied >= group.lastSnapshotIndex + LogIndex(config.snapshotEveryEntries),
            let term = group.core.term(at: applied)
        else { return }
        let snapshot = Snapshot(
            metadata: SnapshotMetadata(index: applied, term: term, conf: group.core.membership),
            data: group.applicationSnapshot
        )
        let keep = LogIndex(config.entriesKeptAfterSnapshot)
        try group.log.createSnapshot(snapshot, compactTo: applied > keep ? applied - keep : 0)
        group.lastSnapshotIndex = applied
        try storage.removeObsoleteSegments()
    }

    private func queue(_ messages: [RaftMessage], group: UInt64) {
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

    /// Once per tick: bootstrap, time entries for due deadlines, attribute changes, parked receives.
    private func housekeeping() {
        let wall = wallMs
        if metadata.core.isLeader && catalog.nodes.isEmpty && !bootstrapProposed {
            let nodes = config.members.map(\.catalogNode)
            let entry = CatalogEntry(
                timestampMs: metadata.stamp(wallMs: wallMs),
                command: .bootstrap(clusterID: config.clusterID, nodes: nodes)
            )
            bootstrapProposed =
                (try? metadata.propose(entry.encoded()) { [weak self] result in
                    if result == nil { self?.bootstrapProposed = false }
                }) != nil
        }
        let catalog = self.catalog
        for group in orderedGroups where group.isLeader && group.partition != nil {
            // Fields read in place: binding the partition would copy (retain) its whole state per group per tick.
            if let name = group.partition?.queueName, let queue = catalog.queues[name],
                queue.id == group.partition?.queueID,
                queue.attributes != group.partition?.attributes, wall - group.lastTimeProposalMs > 200
            {
                group.lastTimeProposalMs = wall
                propose(.setAttributes(queue.attributes), to: group, refused: { _ in }) { _ in }
            } else if let deadline = group.partition?.nextDeadlineMs, deadline <= wall,
                wall - group.lastTimeProposalMs >= Int64(config.tickMs)
            {
                group.lastTimeProposalMs = wall
                propose(.advanceTime, to: group, refused: { _ in }) { _ in }
            }
            serveParked(group)
            pumpOutbox(group, catalog: catalog)
        }
        serveAwaiting(wall)
        balanceLeaders()
    }
}
