import FerryModel
import FerryQueue
import FerryRaft
import FerryWire
import Logging
import NIOCore

/// Client requests on the Raft thread: each routed to its partition's group (`PartitionRouting`), proposed
/// (sends packed per round, `SendPacking`) or answered from the applied state, and answered when applied.
extension NodeRuntime {
    func handle(_ call: ClientCall) {
        var reply = call.reply
        if NodeLog.enabled(.debug, .client) {
            let (id, kind, answer) = (call.requestID?.description, call.request.kindName, call.reply)
            NodeLog.log(.debug, "request \(kind)", .client, event: "request", requestID: id)
            reply = { response in
                if case .error(let error) = response {
                    NodeLog.log(
                        .debug,
                        "request \(kind) refused: \(error.code) (\(error.message))",
                        .client,
                        event: "refused",
                        requestID: id
                    )
                }
                answer(response)
            }
        }
        switch call.request {
        case .hello:
            reply(
                .hello(nodeID: config.nodeID, clusterID: config.clusterID, protocolVersion: ClientFrame.protocolVersion)
            )
        case .describeCluster:
            guard metadataCaughtUp else { return reply(.error(PartitionRouting.catchingUp(config.nodeID))) }
            reply(.cluster(describe()))
        case .listQueues(let prefix):
            guard metadataCaughtUp else { return reply(.error(PartitionRouting.catchingUp(config.nodeID))) }
            reply(.queues(catalog.sortedQueues.filter { $0.name.hasPrefix(prefix) }.map(Self.describe)))
        case .createQueue(let name, let partitions, let attributes):
            proposeCatalog(.createQueue(name: name, partitions: partitions, attributes: attributes), reply)
        case .deleteQueue(let name):
            proposeCatalog(.deleteQueue(name: name), reply)
        case .setQueueAttributes(let name, let attributes):
            proposeCatalog(.setAttributes(name: name, attributes: attributes), reply)
        case .initProducer(let producerID):
            proposeCatalog(producerID.map { .bumpProducerEpoch($0) } ?? .allocateProducer, reply)
        case .changeCluster(let change):
            changeCluster(change, reply)
        case .authBegin, .authProve:
            // Answered by the connection (`NativeAuth`); one forwarded here has no connection to authenticate.
            reply(.error(WireError(.invalidArgument, "authentication belongs to a client connection")))
        case .changeKeys(.create(let id, let secret, "", let admin)):
            // No account given: the key acts for the cluster's own (SQS) account.
            proposeCatalog(
                .changeKeys(.create(id: id, secret: secret, account: config.sqs.accountID, admin: admin)),
                reply
            )
        case .changeKeys(let change):
            proposeCatalog(.changeKeys(change), reply)
        case .listKeys:
            guard metadataCaughtUp else { return reply(.error(PartitionRouting.catchingUp(config.nodeID))) }
            reply(.keys(catalog.keys.keys.sorted().map { catalog.keys[$0]!.info }))
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
                    deadlineMs: nowMs + Int64(min(waitMs, 20_000)),
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
        case .nodeHealth:
            reply(.nodeHealth(health()))
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
        case .groupBacklog(let queue, let partition, let maxGroups):
            guard (1...UInt32(QueueLimits.peekLimit)).contains(maxGroups) else {
                return reply(.error(WireError(.invalidArgument, "a backlog lists 1…\(QueueLimits.peekLimit) groups")))
            }
            route(queue, partition, reply) { group in
                reply(.groups(group.partition!.groupBacklog(limit: Int(maxGroups))))
            }
        case .peekMessages(let queue, let partition, let maxMessages):
            guard (1...UInt32(QueueLimits.peekLimit)).contains(maxMessages) else {
                return reply(.error(WireError(.invalidArgument, "a peek takes 1…\(QueueLimits.peekLimit) messages")))
            }
            route(queue, partition, reply) { group in
                reply(.received(group.partition!.peek(limit: Int(maxMessages))))
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
                        atMs: group.timeMs(clusterWallMs: self.clusterWallMs, nowMs: self.nowMs)
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
                    atMs: group.timeMs(clusterWallMs: clusterWallMs, nowMs: nowMs)
                )
                guard summary.count >= request.maxMessages else { return reply(.deliverable(summary)) }
                self.receive(request, at: group, deadlineMs: 0, reply)
            }
        }
    }

    /// Runs `body` on the partition's group when this node leads it and hears a majority; else answers with
    /// the refusal that sends the client on (`PartitionRouting`).
    func route(
        _ queue: String,
        _ partition: UInt32,
        _ reply: @escaping @Sendable (ClientResponse) -> Void,
        _ body: (GroupDriver) -> Void
    ) {
        let decision = PartitionRouting.route(
            queue: queue,
            partition: partition,
            node: config.nodeID,
            catalog: catalog,
            metadata: { (state(of: metadata), metadataCaughtUp) }
        ) { id in groups[id].map(state(of:)) }
        switch decision {
        case .serve(let id):
            guard let group = groups[id], group.partition != nil else {
                return reply(.error(WireError(.notLeader, "node \(config.nodeID) holds no partition \(id)")))
            }
            // A full disk: nothing here can become durable, so nothing is accepted (the client goes elsewhere).
            if let storageFull { return reply(.error(WireError(.storageFull, storageFull))) }
            body(group)
        case .refuse(let error):
            reply(.error(refusal(error)))
        case .refuseAndWake(let id, let error):
            groups[id]?.wake()
            reply(.error(refusal(error)))
        }
    }

    /// A routing refusal, unless this node's disk is full and the refusal names no other node to go to: then
    /// the full disk, the cause the client needs to hear.
    func refusal(_ error: WireError) -> WireError {
        if metadata.core.repairing && error.code == .unavailable {
            return WireError(
                .unavailable,
                "\(error.message) (node \(config.nodeID)'s metadata replica repairs after storage damage; "
                    + "ferry cluster status)"
            )
        }
        guard let storageFull, error.leaderHint == 0 || error.leaderHint == config.nodeID else { return error }
        return WireError(.storageFull, storageFull)
    }

    func state(of group: GroupDriver) -> PartitionRouting.GroupState {
        // The live quorum only matters to a leader (and costs a walk over the voters).
        let isLeader = group.core.isLeader
        return PartitionRouting.GroupState(
            isLeader: isLeader,
            hasLiveQuorum: isLeader && hasLiveQuorum(group),
            leaderHint: group.core.leaderHint,
            repairingMajority: isLeader ? repairingMajority(group) : [],
            repairing: group.core.repairing
        )
    }

    /// The voters of a group led here that repair, when the others are no majority (`GroupState`).
    func repairingMajority(_ group: GroupDriver) -> [UInt64] {
        let repairing = group.core.repairingFollowers
        guard !repairing.isEmpty else { return [] }
        let voters = group.core.membership.voters
        let damaged = repairing.filter { voters.contains($0) }
        return (voters.count - damaged.count) * 2 > voters.count ? [] : damaged
    }

    /// Sends never proposed when the rounds stop (they waited for a group commit): not enqueued, said so.
    func failPendingSends() {
        let all = pendingSends
        pendingSends = [:]
        pendingSendGroups = []
        let error = WireError(.notLeader, "node \(config.nodeID) stopped before proposing this send", leaderHint: 0)
        for id in all.keys.sorted() {
            for call in all[id]! { call.reply(.error(error)) }
        }
    }

    /// Proposes the round's sends: each group's client batches, in arrival order, packed into entries of at most
    /// `MessagePosition.maxSlots` messages and about `SendPacking.entryBytes` message bytes (bodies and
    /// attributes). The partition applies an entry's
    /// messages one after another, so a packed entry has the effect of its batches as separate entries in the
    /// same order; each client gets the results of its own messages.
    func proposePendingSends() {
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
        let entry = QueueEntry(timestampMs: group.stamp(clusterWallMs: clusterWallMs, nowMs: nowMs), command: command)
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

    func proposeCatalog(_ command: CatalogCommand, _ reply: @escaping @Sendable (ClientResponse) -> Void) {
        if let storageFull { return reply(.error(WireError(.storageFull, storageFull))) }
        guard metadata.core.isLeader else {
            let hint = metadata.core.leaderHint ?? 0
            return reply(
                .error(
                    WireError(.notLeader, "node \(config.nodeID) does not lead the metadata group", leaderHint: hint)
                )
            )
        }
        let entry = CatalogEntry(
            timestampMs: metadata.stamp(clusterWallMs: clusterWallMs, nowMs: nowMs),
            command: command
        )
        do throws(ProposalError) {
            try metadata.propose(entry.encoded()) { result in
                guard case .catalog(let outcome)? = result else { return reply(.error(Self.unknownOutcome)) }
                switch outcome {
                case .queueCreated(let queue), .queueExists(let queue), .attributesSet(let queue):
                    reply(.queue(Self.describe(queue)))
                case .queueDeleted, .bootstrapped, .placementChanged:
                    reply(.done)
                case .producer(let id, let epoch):
                    reply(.producer(id: id, epoch: epoch))
                case .keyChanged(let key):
                    reply(.keys([key]))
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
        case .keyNotFound: return WireError(.unauthorized, error.description)
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

    func describe() -> ClusterDescription {
        let nodes = knownNodes.filter { !catalog.leaving.contains($0.id) }
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
}
