import FerryQueue
import FerryRaft
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
final class NodeRuntime: @unchecked Sendable {
    let config: NodeConfig
    let storage: NodeStorage
    let mailbox = Mailbox()
    var transport: PeerTransport?
    /// Sends outbox moves to destination leaders on other nodes (blocking calls, off the Raft thread).
    var forwarder: MoveForwarder?
    /// Partition groups with a batch of outbox moves on its way, and when it left.
    private var movesInFlight: [UInt64: Int64] = [:]
    let raftConfig: RaftConfig
    private(set) var groups: [UInt64: GroupDriver] = [:] {
        didSet { orderedGroups = groups.keys.sorted().map { groups[$0]! } }
    }
    /// The groups by id: the loops of every round walk this instead of sorting ids.
    private var orderedGroups: [GroupDriver] = []
    /// Frames to send this round, per peer: one write and one flush per peer per round.
    private var outgoing: [UInt64: [ByteBuffer]] = [:]
    /// Sends routed in this round, per partition group in arrival order: `proposePendingSends` packs them into as
    /// few entries as it can once the round's events are handled (one Raft entry, one WAL record, one
    /// replication frame for many clients' batches; `SendPacking`).
    private var pendingSends: [UInt64: [(requests: [SendRequest], reply: @Sendable (ClientResponse) -> Void)]] = [:]
    private var pendingSendGroups: [UInt64] = []
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
    private var tickCount: UInt64 = 0
    /// When each peer was last heard from (any frame), and the peers silent for an election timeout.
    private var liveness: PeerLiveness
    let metrics = NodeMetrics()
    private var seed: UInt64

    init(config: NodeConfig, storage: NodeStorage) throws {
        self.config = config
        self.storage = storage
        var raft = RaftConfig()
        raft.electionTimeoutTicks = config.electionTicks
        raft.heartbeatIntervalTicks = config.heartbeatTicks
        self.raftConfig = raft
        self.seed = config.nodeID &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: MonotonicClock.wallMs())
        balancer = LeaderBalancer(me: config.nodeID)
        liveness = PeerLiveness(
            me: config.nodeID,
            peers: config.members.map(\.id),
            silenceMs: Int64(config.electionTicks) * Int64(config.tickMs),
            nowMs: MonotonicClock.nowMs()
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

    func run() {
        var nextTick = MonotonicClock.nowMs() + Int64(config.tickMs)
        while running {
            let wait = Double(max(0, nextTick - MonotonicClock.nowMs())) / 1_000
            for event in mailbox.take(timeoutSeconds: wait) { handle(event) }
            if crashed { break }
            proposePendingSends()
            let now = MonotonicClock.nowMs()
            if now >= nextTick {
                tickGroups(now: now)
                nextTick = now + Int64(config.tickMs)
                housekeeping()
            }
            do {
                try processReadies()
            } catch {
                NodeLog.error("storage failed, stopping: \(error)")
                running = false
            }
            flush()
            if let deadline = stopDeadlineMs, groups.values.allSatisfy({ !$0.isLeader }) || now >= deadline {
                running = false
            }
        }
        for group in groups.values { group.failWaiters(notIn: .max) }
        if !crashed { try? storage.sync() }
    }

    /// One tick: every group not quiesced ticks; an idle leader quiesces its group; every heartbeat interval one
    /// `alive` frame per peer stands in for the heartbeats of all quiesced groups; a peer silent for an election
    /// timeout is treated as lost (its followers campaign now, as when its connection is reset).
    private func tickGroups(now: Int64) {
        tickCount += 1
        for (peer, silentMs) in liveness.newlySilent(at: now) {
            NodeLog.warning("peer \(peer) silent for \(silentMs) ms; its groups elect new leaders")
            peerLost(peer)
            // Leaders here that lost their majority tick again, so that check-quorum steps them down.
            for group in orderedGroups where group.quiesced && group.isLeader && !hasLiveQuorum(group) {
                group.wake()
            }
        }
        for group in orderedGroups {
            if group.quiesced {
                if group.isLeader { continue }
                if let leader = group.core.leaderHint, !liveness.isSilent(leader) { continue }
                group.wake()
            }
            if group.isLeader {
                if isIdle(group) {
                    group.quietTicks += 1
                    // Past a heartbeat interval of quiet, every follower holds the final commit index: stop here,
                    // before this tick could send another heartbeat behind the quiesce frames.
                    if group.quietTicks > config.heartbeatTicks {
                        quiesce(group)
                        continue
                    }
                } else {
                    group.quietTicks = 0
                }
            }
            if group.campaignRetries > 0 {
                group.campaignRetryTicks -= 1
                if group.core.leaderHint != nil {
                    group.campaignRetries = 0
                } else if group.campaignRetryTicks <= 0 {
                    group.campaignRetries -= 1
                    group.campaignRetryTicks = 2
                    group.core.campaign()
                }
            }
            group.core.tick()
        }
        if tickCount % UInt64(config.heartbeatTicks) == 0 {
            let alive = PeerControl.alive(from: config.nodeID).encoded()
            for member in config.members where member.id != config.nodeID {
                outgoing[member.id, default: []].append(alive)
            }
        }
    }

    /// True when this node heard from enough of the group's other voters within the election timeout to make a
    /// majority with itself (node liveness: any frame counts).
    private func hasLiveQuorum(_ group: GroupDriver) -> Bool {
        liveness.hasLiveQuorum(group.core.membership.voters)
    }

    /// A leader with nothing to replicate, no client waiting and no outbox to pump, that hears a majority (one
    /// that does not must keep ticking, so that check-quorum steps it down).
    private func isIdle(_ group: GroupDriver) -> Bool {
        guard group.waiters.isEmpty, parked.isEmpty(group: group.groupID), awaiting.isEmpty(group: group.groupID),
            movesInFlight[group.groupID] == nil,
            (group.partition?.pendingMoveCount ?? 0) == 0, hasLiveQuorum(group)
        else { return false }
        return group.core.isQuietLeader
    }

    private func quiesce(_ group: GroupDriver) {
        group.quiesced = true
        let frame = PeerControl.quiesce(
            groupID: group.groupID,
            from: config.nodeID,
            term: group.core.term,
            commit: group.core.commitIndex
        ).encoded()
        let membership = group.core.membership
        for member in (membership.voters + membership.learners).sorted() where member != config.nodeID {
            outgoing[member, default: []].append(frame)
        }
    }

    /// Graceful stop: every group this node leads hands leadership to its most caught-up follower, so that
    /// clients see no failed send; the loop ends when none is led here or after `handOffMs`.
    private func beginStop(handOffMs: Int64 = 3_000) {
        stopDeadlineMs = MonotonicClock.nowMs() + handOffMs
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

    /// A peer's connection broke (its process may have died): the followers of groups it led forget it, and the
    /// one with the lowest id starts a pre-vote at once instead of waiting out the election timeout.
    private func peerLost(_ peer: UInt64) {
        for id in groups.keys.sorted() {
            let group = groups[id]!
            guard !group.core.isLeader, group.core.leaderHint == peer else { continue }
            group.wake()
            group.core.forgetLeader()
            // One follower campaigns, the others only forget the leader so that they grant its pre-vote at once:
            // two simultaneous pre-candidates would split the vote and fall back to the election timeout.
            let others = group.core.membership.voters.filter { $0 != peer }
            if others.min() == config.nodeID {
                group.core.campaign()
                group.campaignRetries = 3
                group.campaignRetryTicks = 2
            }
        }
    }

    /// Every few seconds (`LeaderBalancer`): a partition led here whose preferred leader is another, caught-up
    /// replica is handed back to it.
    private func balanceLeaders() {
        guard balancer.roundDue(at: MonotonicClock.nowMs(), stopping: stopDeadlineMs != nil) else { return }
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

    private func handle(_ event: NodeEvent) {
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
                movesInFlight[groupID] = MonotonicClock.nowMs() - 1_500  // retry in half a second
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
        if liveness.heard(from: peer, at: MonotonicClock.nowMs()) { NodeLog.info("peer \(peer) heard again") }
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
        for (peer, frames) in batch { transport?.send(frames, to: peer) }
    }

    /// Once per tick: bootstrap, time entries for due deadlines, attribute changes, parked receives.
    private func housekeeping() {
        let wall = MonotonicClock.wallMs()
        if metadata.core.isLeader && catalog.nodes.isEmpty && !bootstrapProposed {
            let nodes = config.members.map(\.catalogNode)
            let entry = CatalogEntry(
                timestampMs: metadata.stamp(),
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

    /// A leader sends its outbox (dead letters, redrives) to the destination partitions' leaders, oldest first,
    /// one batch at a time per group, and acknowledges the moves once the destination committed them
    /// (DESIGN §9). The destination deduplicates by origin, so a batch repeated after a crash is harmless.
    private func pumpOutbox(_ group: GroupDriver, catalog: Catalog) {
        guard let pending = group.partition?.pendingMoveCount, pending > 0 else { return }
        let now = MonotonicClock.nowMs()
        if let sent = movesInFlight[group.groupID], now - sent < 2_000 { return }
        let moves = group.partition!.pendingMoves(limit: QueueLimits.maxBatchEntries)
        guard let first = moves.first, let destination = catalog.queues[first.destination] else { return }
        let partitions = UInt32(destination.partitions.count)
        func partition(of move: OutboxMove) -> UInt32 {
            move.request.groupID.map { Catalog.partition(forGroup: $0, partitions: partitions) }
                ?? UInt32(move.id % UInt64(partitions))
        }
        let target = partition(of: first)
        let batch = Array(moves.prefix { $0.destination == first.destination && partition(of: $0) == target })
        let placed = destination.partitions[Int(target)]
        let ids = batch.map(\.id)
        movesInFlight[group.groupID] = now
        if let local = groups[placed.groupID], local.isLeader {
            let source = group.groupID
            propose(.send(batch.map(\.request)), to: local, refused: { _ in }) { [weak self] result in
                guard case .queue(.sent(let outcomes))? = result, outcomes.allSatisfy({ (try? $0.get()) != nil }) else {
                    self?.handle(.movesForwarded(group: source, ids: nil))
                    return
                }
                self?.handle(.movesForwarded(group: source, ids: ids))
            }
            return
        }
        let leader = groups[placed.groupID]?.leader ?? placed.preferredLeader
        guard let member = config.members.first(where: { $0.id == (leader != 0 ? leader : placed.preferredLeader) })
        else {
            return
        }
        forwarder?.forward(
            .send(queue: destination.name, partition: target, requests: batch.map(\.request)),
            to: member,
            sourceGroup: group.groupID,
            ids: ids
        )
    }

    // MARK: Clients

    private func handle(_ call: ClientCall) {
        let reply = call.reply
        switch call.request {
        case .hello:
            reply(
                .hello(nodeID: config.nodeID, clusterID: config.clusterID, protocolVersion: ClientFrame.protocolVersion)
            )
        case .describeCluster:
            guard metadataCaughtUp else { return reply(.error(Self.catchingUp(config.nodeID))) }
            reply(.cluster(describe()))
        case .listQueues(let prefix):
            guard metadataCaughtUp else { return reply(.error(Self.catchingUp(config.nodeID))) }
            reply(.queues(catalog.sortedQueues.filter { $0.name.hasPrefix(prefix) }.map(Self.describe)))
        case .createQueue(let name, let partitions, let attributes):
            proposeCatalog(.createQueue(name: name, partitions: partitions, attributes: attributes), reply)
        case .deleteQueue(let name):
            proposeCatalog(.deleteQueue(name: name), reply)
        case .setQueueAttributes(let name, let attributes):
            proposeCatalog(.setAttributes(name: name, attributes: attributes), reply)
        case .initProducer(let producerID):
            proposeCatalog(producerID.map { .bumpProducerEpoch($0) } ?? .allocateProducer, reply)
        case .purgeQueue(let name, let partition):
            route(name, partition, reply) { group in
                self.propose(.purge, to: group, refused: reply) { result in
                    guard case .queue(.purged)? = result else { return reply(.error(Self.unknownOutcome)) }
                    reply(.done)
                }
            }
        case .send(let queue, let partition, let requests):
            do {
                try QueueLimits.validateBatch(count: requests.count)
            } catch {
                return reply(.error(WireError(error)))
            }
            route(queue, partition, reply) { group in
                let requests = ContentDeduplication.fill(
                    requests,
                    attributes: group.partition!.attributes,
                    kind: group.partition!.kind
                )
                if pendingSends[group.groupID] == nil { pendingSendGroups.append(group.groupID) }
                pendingSends[group.groupID, default: []].append((requests, reply))
            }
        case .receive(let queue, let partition, let request, let waitMs):
            route(queue, partition, reply) { group in
                self.receive(
                    request,
                    at: group,
                    deadlineMs: MonotonicClock.wallMs() + Int64(min(waitMs, 20_000)),
                    reply
                )
            }
        case .delete(let queue, let partition, let handles):
            route(queue, partition, reply) { group in
                self.propose(.delete(handles), to: group, refused: reply) { result in
                    guard case .queue(.deleted(let results))? = result else {
                        return reply(.error(Self.failure(result)))
                    }
                    reply(.deleted(results.map { $0.mapError(WireError.init) }))
                }
            }
        case .changeVisibility(let queue, let partition, let changes):
            route(queue, partition, reply) { group in
                self.propose(.changeVisibility(changes), to: group, refused: reply) { result in
                    guard case .queue(.visibilityChanged(let results))? = result else {
                        return reply(.error(Self.failure(result)))
                    }
                    reply(.visibilityChanged(results.map { $0.mapError(WireError.init) }))
                }
            }
        case .sendStatus(let queue, let partition, let deduplicationID, let groupID):
            route(queue, partition, reply) { group in
                reply(.sendStatus(group.partition!.sendStatus(deduplicationID: deduplicationID, groupID: groupID)))
            }
        case .nodeStatus:
            reply(.nodeStatus(status()))
        case .groupDigest(let groupID):
            guard let group = groups[groupID] else { return reply(.digest(applied: 0, digest: 0)) }
            var digest: UInt64 = 0xcbf2_9ce4_8422_2325
            group.applicationSnapshot.withUnsafeReadableBytes { bytes in
                for byte in bytes { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
            }
            reply(.digest(applied: group.core.appliedIndex, digest: digest))
        case .queueStatistics(let queue, let partition):
            route(queue, partition, reply) { group in
                reply(.statistics(group.partition!.statistics, nowMs: group.partition!.nowMs))
            }
        case .startMoveTask(let queue, let partition, let request):
            route(queue, partition, reply) { group in
                self.propose(.startMoveTask(request), to: group, refused: reply) { result in
                    guard case .queue(.moveTaskStarted(let task))? = result else {
                        return reply(.error(Self.failure(result)))
                    }
                    reply(.moveTasks([task]))
                }
            }
        case .cancelMoveTask(let queue, let partition, let taskID):
            route(queue, partition, reply) { group in
                self.propose(.cancelMoveTask(taskID: taskID), to: group, refused: reply) { result in
                    guard case .queue(.moveTaskCancelled(let task))? = result else {
                        return reply(.error(Self.failure(result)))
                    }
                    reply(.moveTasks([task]))
                }
            }
        case .listMoveTasks(let queue, let partition):
            route(queue, partition, reply) { group in reply(.moveTasks(group.partition!.moveTasks)) }
        case .awaitMessages(let queue, let partition, let waitMs):
            route(queue, partition, reply) { group in
                watch(group, waitMs: waitMs, reply) { partition, final in
                    partition.hasDeliverableMessages ? .done : final ? .received([]) : nil
                }
            }
        case .summarizeDeliverable(let queue, let partition, let maxMessages, let attemptID, let waitMs):
            route(queue, partition, reply) { group in
                let limit = min(Int(maxMessages), QueueLimits.maxReceiveMessages)
                watch(group, waitMs: waitMs, reply) { partition, final in
                    let summary = partition.deliverableSummary(
                        limit: limit,
                        requestAttemptID: attemptID,
                        atMs: MonotonicClock.wallMs()
                    )
                    return summary.mayDeliver || final ? .deliverable(summary) : nil
                }
            }
        case .receiveIfFull(let queue, let partition, let request):
            route(queue, partition, reply) { group in
                guard request.requestAttemptID == nil else {
                    return reply(.error(WireError(.invalidArgument, "receiveIfFull takes no request attempt id")))
                }
                let summary = group.partition!.deliverableSummary(
                    limit: min(request.maxMessages, QueueLimits.maxReceiveMessages),
                    atMs: MonotonicClock.wallMs()
                )
                guard summary.count >= request.maxMessages else { return reply(.deliverable(summary)) }
                self.receive(request, at: group, deadlineMs: 0, reply)
            }
        }
    }

    /// Runs `body` on the partition's group when this node leads it; else answers `notLeader` with a hint.
    private func route(
        _ queue: String,
        _ partition: UInt32,
        _ reply: @escaping @Sendable (ClientResponse) -> Void,
        _ body: (GroupDriver) -> Void
    ) {
        // "No such queue" is definitive for clients: only the metadata leader, caught up and hearing a majority,
        // may say it. Another node may not have applied the creation yet: it sends the client there.
        if catalog.queues[queue] == nil
            && !(metadata.core.isLeader && metadataCaughtUp && hasLiveQuorum(metadata))
        {
            guard metadataCaughtUp, let leader = metadata.core.leaderHint, leader != config.nodeID else {
                return reply(.error(Self.catchingUp(config.nodeID)))
            }
            return reply(
                .error(
                    WireError(
                        .notLeader,
                        "node \(config.nodeID) does not know \(queue); ask the metadata leader",
                        leaderHint: leader
                    )
                )
            )
        }
        guard let described = catalog.queues[queue] else {
            return reply(.error(WireError(.queueNotFound, "queue \(queue) does not exist")))
        }
        guard Int(partition) < described.partitions.count else {
            return reply(
                .error(WireError(.invalidArgument, "queue \(queue) has \(described.partitions.count) partitions"))
            )
        }
        let placed = described.partitions[Int(partition)]
        if let group = groups[placed.groupID], group.core.isLeader, !hasLiveQuorum(group) {
            // A leader that hears from no majority (a quiesced one has not ticked its check-quorum) must not take
            // sends it cannot commit: the client goes to the other side, where a new leader is elected.
            group.wake()
            return reply(
                .error(
                    WireError(
                        .unavailable,
                        "node \(config.nodeID) cannot reach a majority of \(queue)/\(partition)'s replicas"
                    )
                )
            )
        }
        guard let group = groups[placed.groupID], group.core.isLeader, group.partition != nil else {
            // A local replica knows the leader or knows that it does not (0: ask another node); a node without
            // a replica points at the preferred leader.
            let local = groups[placed.groupID]
            let hint = local.map { $0.core.leaderHint ?? 0 } ?? placed.preferredLeader
            return reply(
                .error(
                    WireError(.notLeader, "node \(config.nodeID) does not lead \(queue)/\(partition)", leaderHint: hint)
                )
            )
        }
        body(group)
    }

    /// Proposes the round's sends: each group's client batches, in arrival order, packed into entries of at most
    /// `MessagePosition.maxSlots` messages and about `SendPacking.entryBytes` message bytes (bodies and
    /// attributes). The partition applies an entry's
    /// messages one after another, so a packed entry has the effect of its batches as separate entries in the
    /// same order; each client gets the results of its own messages.
    private func proposePendingSends() {
        guard !pendingSendGroups.isEmpty else { return }
        let order = pendingSendGroups
        let all = pendingSends
        pendingSendGroups = []
        pendingSends = [:]
        for id in order {
            let calls = all[id]!
            guard let group = groups[id], group.partition != nil else {
                let error = WireError(.notLeader, "node \(config.nodeID) no longer holds group \(id)", leaderHint: 0)
                for call in calls { call.reply(.error(error)) }
                continue
            }
            for range in SendPacking.ranges(of: calls.map(\.requests)) {
                let packed = Array(calls[range])
                let requests = packed.count == 1 ? packed[0].requests : packed.flatMap(\.requests)
                propose(
                    .send(requests),
                    to: group,
                    refused: { response in for call in packed { call.reply(response) } }
                ) {
                    result in
                    guard case .queue(.sent(let results))? = result, results.count == requests.count else {
                        let error = Self.failure(result)
                        for call in packed { call.reply(.error(error)) }
                        return
                    }
                    var at = 0
                    for call in packed {
                        let mine = results[at..<(at + call.requests.count)]
                        at += call.requests.count
                        call.reply(.sent(mine.map { $0.mapError(WireError.init) }))
                    }
                }
            }
        }
    }

    /// Proposes a command; `done` gets the applied result (nil: lost in a leader change, outcome unknown).
    /// A proposal refused at once appended nothing: `refused` gets a retriable answer (`notLeader` with the hint
    /// during a transfer or election, `throttled` under back-pressure).
    func propose(
        _ command: QueueCommand,
        to group: GroupDriver,
        refused: @Sendable (ClientResponse) -> Void,
        _ done: @escaping (AppliedResult?) -> Void
    ) {
        let entry = QueueEntry(timestampMs: group.stamp(), command: command)
        do {
            try group.propose(entry.encoded(), reply: done)
        } catch {
            refused(.error(Self.wireError(error)))
        }
    }

    static func wireError(_ error: ProposalError) -> WireError {
        switch error {
        case .notLeader(let hint): return WireError(.notLeader, "not the leader", leaderHint: hint ?? 0)
        case .leadershipTransferInProgress(let target):
            return WireError(.notLeader, "leadership moving to \(target)", leaderHint: target)
        case .uncommittedLimitExceeded: return WireError(.throttled, "too many uncommitted bytes; retry shortly")
        case .entryTooLarge(let bytes, let limit):
            return WireError(.messageTooLarge, "entry of \(bytes) bytes exceeds \(limit)")
        case .emptyProposal: return WireError(.invalidArgument, "empty proposal")
        case .stopped(let failure): return WireError(.unavailable, "group stopped: \(failure)")
        }
    }

    private func proposeCatalog(_ command: CatalogCommand, _ reply: @escaping @Sendable (ClientResponse) -> Void) {
        guard metadata.core.isLeader else {
            let hint = metadata.core.leaderHint ?? 0
            return reply(
                .error(
                    WireError(.notLeader, "node \(config.nodeID) does not lead the metadata group", leaderHint: hint)
                )
            )
        }
        let entry = CatalogEntry(timestampMs: metadata.stamp(), command: command)
        do throws(ProposalError) {
            try metadata.propose(entry.encoded()) { result in
                guard case .catalog(let outcome)? = result else { return reply(.error(Self.unknownOutcome)) }
                switch outcome {
                case .queueCreated(let queue), .queueExists(let queue), .attributesSet(let queue):
                    reply(.queue(Self.describe(queue)))
                case .queueDeleted, .bootstrapped:
                    reply(.done)
                case .producer(let id, let epoch):
                    reply(.producer(id: id, epoch: epoch))
                case .rejected(let error):
                    reply(.error(Self.wireError(error)))
                }
            }
        } catch {
            reply(.error(Self.wireError(error)))
        }
    }

    /// True when the metadata group knows its leader and applied everything it knows to be committed: only
    /// then are this node's catalog answers ("no such queue", the queue list) current. A node that has just
    /// started, or lost its leader, answers `unavailable` (retriable) instead.
    var metadataCaughtUp: Bool {
        metadata.core.leaderHint != nil && metadata.core.appliedIndex >= metadata.core.commitIndex
    }

    static func catchingUp(_ node: UInt64) -> WireError {
        WireError(.unavailable, "node \(node) is catching up on the metadata log; retry")
    }

    static let unknownOutcome = WireError(
        .timeout,
        "leadership changed before the entry was applied; its outcome is unknown"
    )

    static func failure(_ result: AppliedResult?) -> WireError {
        guard let result else { return unknownOutcome }
        if case .queue(.rejected(let error)) = result { return WireError(error) }
        return WireError(.internal, "unexpected result \(result)")
    }

    static func wireError(_ error: CatalogError) -> WireError {
        switch error {
        case .queueNotFound: return WireError(.queueNotFound, error.description)
        case .queueAlreadyExists: return WireError(.queueAlreadyExists, error.description)
        case .invalid(let queueError): return WireError(queueError)
        case .notBootstrapped: return WireError(.unavailable, error.description)
        default: return WireError(.invalidArgument, error.description)
        }
    }

    static func describe(_ queue: CatalogQueue) -> QueueDescription {
        QueueDescription(
            name: queue.name,
            id: queue.id,
            partitions: UInt32(queue.partitions.count),
            attributes: queue.attributes,
            createdAtMs: queue.createdAtMs,
            modifiedAtMs: queue.modifiedAtMs
        )
    }

    private func describe() -> ClusterDescription {
        let nodes = config.members.map(\.catalogNode)
        var partitions: [PartitionDescription] = []
        for queue in catalog.sortedQueues {
            for placed in queue.partitions {
                let local = groups[placed.groupID]
                partitions.append(
                    PartitionDescription(
                        queueID: queue.id,
                        partition: placed.partition,
                        groupID: placed.groupID,
                        replicas: placed.replicas,
                        leader: local?.core.leaderHint ?? 0,
                        term: local?.core.term ?? 0
                    )
                )
            }
        }
        return ClusterDescription(
            clusterID: config.clusterID,
            nodes: nodes,
            queues: catalog.sortedQueues.map(Self.describe),
            partitions: partitions
        )
    }

    private func renderMetrics() -> String {
        for group in orderedGroups {
            metrics.record(group: group, node: config.nodeID)
            if group.isLeader, let partition = group.partition {
                metrics.record(
                    queue: partition.queueName,
                    partition: partition.partition,
                    statistics: partition.statistics,
                    nowMs: partition.nowMs
                )
            }
        }
        let now = MonotonicClock.nowMs()
        for (peer, heard) in liveness.lastHeardMs.sorted(by: { $0.key < $1.key }) {
            metrics.gauge(
                "ferry_peer_last_heard_seconds",
                [("peer", String(peer))],
                Double(now - heard) / 1_000,
                help: "Time since any frame from the peer"
            )
        }
        return metrics.render()
    }

    private func status() -> NodeStatus {
        let groups = groups.keys.sorted().map { id -> GroupStatus in
            let group = self.groups[id]!
            let status = group.core.status
            let followers = status.progress.keys.sorted().filter { $0 != config.nodeID }.map {
                GroupStatus.FollowerProgress(node: $0, matchIndex: status.progress[$0]!.match)
            }
            return GroupStatus(
                groupID: id,
                queue: group.partition?.queueName ?? "",
                partition: group.partition?.partition ?? 0,
                leader: status.leader ?? 0,
                term: status.term,
                commitIndex: status.commit,
                appliedIndex: status.applied,
                followers: followers
            )
        }
        return NodeStatus(nodeID: config.nodeID, fsync: config.fsync, groups: groups)
    }
}
