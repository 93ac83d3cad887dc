import FerryQueue
import FerryRaft
import NIOCore

/// How a queue-mode run drives its partition: drawn from the seed like the rest of the run (swarm testing).
/// Simulated time units are milliseconds of entry time.
public struct QueueSimConfig: Sendable, Hashable {
    public var visibilitySeconds = 2
    public var dedupWindowMs: Int64 = 300_000
    /// nil: no dead-letter queue.
    public var maxReceiveCount: Int? = 3
    public var groups = 5
    public var plainProducers = 2
    public var consumers = 2
    /// A client repeats a request it got no answer to after this long.
    public var retryAfter: UInt64 = 1_500
    public var deletePercent = 65
    public var changeVisibilityPercent = 10
    /// Chance per client action of a purge (rare: it empties the queue).
    public var purgePerMille = 0
    /// Chance that the leader's send of a move to the dead-letter queue, or its acknowledgement, is lost.
    public var moveLossPercent = 20
    public var moveAckLossPercent = 30
    /// Chance per session action that the producer restarts with a new epoch.
    public var epochBumpPercent = 1

    public init() {}

    public static func swarm(seed: UInt64) -> QueueSimConfig {
        var rng = Xoshiro256(seed: seed ^ 0x0051_EE0E)
        var config = QueueSimConfig()
        config.visibilitySeconds = rng.uniform(1...3)
        config.dedupWindowMs = [1_000, 2_500, 300_000, 300_000].randomElement(using: &rng)!
        config.maxReceiveCount = [nil, 1, 2, 4].randomElement(using: &rng)!
        config.groups = [1, 3, 8].randomElement(using: &rng)!
        config.retryAfter = [800, 1_500, 4_000].randomElement(using: &rng)!
        config.deletePercent = [40, 65, 90].randomElement(using: &rng)!
        config.purgePerMille = [0, 0, 0, 2].randomElement(using: &rng)!
        config.epochBumpPercent = [0, 1, 5].randomElement(using: &rng)!
        return config
    }

    var attributes: QueueAttributes {
        var attributes = QueueAttributes()
        attributes.visibilityTimeoutSeconds = visibilitySeconds
        attributes.dedupWindowMs = dedupWindowMs
        if let maxReceiveCount {
            attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "sim-dlq.fifo", maxReceiveCount: maxReceiveCount)
        }
        return attributes
    }
}

/// The simulated clients of one FIFO queue partition and its dead-letter queue: plain producers that retry with
/// the same deduplication ids, a pipelined producer session, consumers that delete, change visibility or let
/// it expire, a leader that proposes time entries and pumps its outbox to a dead-letter queue over a lossy
/// link. Everything they are told is checked against what they sent and against the committed results.
struct QueueWorkload {
    struct PlainProducer {
        var next = 0
        var pending: (requests: [SendRequest], sentAt: UInt64)?
    }

    struct SessionProducer {
        var epoch: UInt32 = 0
        var nextSequence: UInt64 = 0
        var unacked: [UInt64: SendRequest] = [:]
        var sentAt: UInt64 = 0
        var acked: [UInt64: MessagePosition] = [:]
        /// A send of the previous epoch that its "zombie" instance still makes after the restart: it must be
        /// fenced, or accepted only if it commits before the new epoch's first send.
        var zombie: SendRequest?
    }

    struct Consumer {
        var count = 0
        var pending: (request: ReceiveRequest, sentAt: UInt64)?
    }

    struct HandleOp {
        var id: Int
        var handle: ReceiptHandle
        /// nil: delete; else a visibility change to this many seconds.
        var seconds: Int?
        var due: UInt64
        var attempts = 0
        var sentAt: UInt64?
    }

    enum Op {
        case plain(Int)
        case session(epoch: UInt32, requests: [SendRequest])
        case receive(Int)
        case handles([Int])
        case other
    }

    let config: QueueSimConfig
    var checker: QueueContractChecker
    var ops: [UInt64: Op] = [:]
    var plain: [PlainProducer]
    var session = SessionProducer()
    var consumers: [Consumer]
    var handleOps: [HandleOp] = []
    var nextHandleOpID = 0
    var lastTimeProposal: UInt64 = 0
    var lastPump: UInt64 = 0
    var lastStamp: [Int64]
    var clockOffset: [Int64]
    /// The first result of every applied index, to compare every other replica's with.
    var firstResults: [LogIndex: QueueResult] = [:]
    /// Sends a client saw acknowledged: they must never be lost.
    var acknowledgedSends: [MessagePosition] = []
    /// The dead-letter queue: another Raft group in a real cluster, a single state machine here.
    var dlq: QueuePartition?
    var dlqIndex: UInt64 = 0
    var dlqClock: Int64 = 0
    var dlqOrigins: [MessagePosition: Int] = [:]

    init(config: QueueSimConfig, members: Int, rng: inout Xoshiro256) {
        self.config = config
        self.checker = QueueContractChecker(dedupWindowMs: config.dedupWindowMs)
        self.plain = Array(repeating: PlainProducer(), count: config.plainProducers)
        self.consumers = Array(repeating: Consumer(), count: config.consumers)
        self.lastStamp = Array(repeating: 0, count: members)
        self.clockOffset = (0..<members).map { _ in Int64(rng.uniform(0...600)) - 300 }
        if config.maxReceiveCount != nil {
            dlq = try! QueuePartition(
                queueName: "sim-dlq.fifo",
                queueID: 2,
                partition: 0,
                partitionCount: 1,
                attributes: QueueAttributes()
            )
        }
    }

    static func partition(_ config: QueueSimConfig) -> QueuePartition {
        try! QueuePartition(
            queueName: "sim.fifo",
            queueID: 1,
            partition: 0,
            partitionCount: 1,
            attributes: config.attributes
        )
    }
}

extension Simulation {
    /// The leader's stamp: its wall clock (the simulated time with a per-node offset), never going back.
    func stamp(at node: NodeID) -> Int64 {
        let i = index(node)
        let stamp = max(Int64(now) + queueWorkload!.clockOffset[i], queueWorkload!.lastStamp[i])
        queueWorkload!.lastStamp[i] = stamp
        return stamp
    }

    /// Proposes one queue command at `node` (most often the leader); refusals are the client's to retry.
    @discardableResult
    func proposeQueue(_ command: QueueCommand, at node: NodeID, op: QueueWorkload.Op) throws(InvariantViolation) -> Bool
    {
        let i = index(node)
        guard nodes[i].isUp, !nodes[i].paused else { return false }
        let payload = QueueEntry(timestampMs: stamp(at: node), command: command).encoded()
        let id = nextPayloadID
        nextPayloadID += 1
        do {
            let ticket = try nodes[i].core!.propose([payload])
            pendingProposals[ProposalKey(node: node, index: ticket.firstIndex)] = (ticket.term, id)
            queueWorkload!.ops[id] = op
        } catch {
            switch error {
            case .notLeader: probe(.proposalRefusedNotLeader)
            case .leadershipTransferInProgress: probe(.proposalRefusedTransfer)
            case .uncommittedLimitExceeded: probe(.proposalRefusedUncommitted)
            case .entryTooLarge, .emptyProposal, .stopped:
                throw InvariantViolation(invariant: "proposal", detail: "unexpected refusal: \(error)")
            }
            return false
        }
        try processReady(node)
        return true
    }

    /// Where a client sends: the leader most of the time, else any running node (which refuses).
    func clientTarget() -> NodeID? {
        let up = nodes.filter { $0.isUp && !$0.paused }
        guard !up.isEmpty else { return nil }
        if let leader = up.first(where: { $0.core!.isLeader }), rng.uniform(0..<10) < 9 { return leader.id }
        return up.randomElement(using: &rng)!.id
    }

    /// One client action per `.propose` event.
    func queueClientStep() throws(InvariantViolation) {
        guard let target = clientTarget() else { return }
        let config = queueWorkload!.config
        if Int(now) - Int(queueWorkload!.lastTimeProposal) >= 400, nodes[index(target)].core!.isLeader {
            queueWorkload!.lastTimeProposal = now
            try proposeQueue(.advanceTime, at: target, op: .other)
        }
        if queueWorkload!.dlq != nil, now - queueWorkload!.lastPump >= 300, let leader = currentLeader {
            queueWorkload!.lastPump = now
            try pumpMoves(from: leader, lossy: true)
        }
        if config.purgePerMille > 0, rng.uniform(0..<1_000) < config.purgePerMille {
            try proposeQueue(.purge, at: target, op: .other)
            return
        }
        switch rng.uniform(0..<4) {
        case 0: try plainProducerStep(target)
        case 1: try sessionProducerStep(target)
        case 2: try consumerStep(target)
        default: try handleStep(target)
        }
    }

    func plainProducerStep(_ target: NodeID) throws(InvariantViolation) {
        let config = queueWorkload!.config
        let p = rng.uniform(0..<config.plainProducers)
        var producer = queueWorkload!.plain[p]
        if let pending = producer.pending {
            guard now - pending.sentAt >= config.retryAfter else { return }
            // The same requests, the same deduplication ids: exactly once across failover.
            if try proposeQueue(.send(pending.requests), at: target, op: .plain(p)) {
                producer.pending = (pending.requests, now)
            }
        } else {
            let count = rng.uniform(1...3)
            var requests: [SendRequest] = []
            for _ in 0..<count {
                var body = ByteBuffer()
                body.writeString("p\(p)-\(producer.next)")
                requests.append(
                    SendRequest(
                        body: body,
                        groupID: "g\(rng.uniform(0..<config.groups))",
                        deduplicationID: "p\(p)-\(producer.next)"
                    )
                )
                producer.next += 1
            }
            producer.pending = (requests, now)
            try proposeQueue(.send(requests), at: target, op: .plain(p))
        }
        queueWorkload!.plain[p] = producer
    }

    func sessionProducerStep(_ target: NodeID) throws(InvariantViolation) {
        let config = queueWorkload!.config
        var session = queueWorkload!.session
        if let zombie = session.zombie {
            session.zombie = nil
            queueWorkload!.session = session
            try proposeQueue(
                .send([zombie]),
                at: target,
                op: .session(epoch: zombie.producer!.epoch, requests: [zombie])
            )
            return
        }
        if rng.chance(percent: config.epochBumpPercent) {
            // The producer restarts: a new epoch fences the old one; unacknowledged sends are abandoned.
            var body = ByteBuffer()
            body.writeString("zombie")
            let zombie = SendRequest(
                body: body,
                groupID: "s0",
                deduplicationID: "z\(session.epoch)",
                producer: ProducerStamp(producerID: 1, epoch: session.epoch, sequence: session.nextSequence)
            )
            session = QueueWorkload.SessionProducer(epoch: session.epoch + 1)
            if rng.chance(percent: 50) { session.zombie = zombie }
        }
        let window = 4
        if session.unacked.count < window && (session.unacked.isEmpty || now - session.sentAt < config.retryAfter) {
            let sequence = session.nextSequence
            session.nextSequence += 1
            var body = ByteBuffer()
            body.writeString("s\(session.epoch)-\(sequence)")
            let request = SendRequest(
                body: body,
                groupID: "s\(sequence % 2)",
                deduplicationID: "s\(session.epoch)-\(sequence)",
                producer: ProducerStamp(producerID: 1, epoch: session.epoch, sequence: sequence)
            )
            session.unacked[sequence] = request
            if session.unacked.count == 1 { session.sentAt = now }
            queueWorkload!.session = session
            try proposeQueue(.send([request]), at: target, op: .session(epoch: session.epoch, requests: [request]))
        } else if now - session.sentAt >= config.retryAfter {
            // Resend everything unacknowledged, in sequence order, in one entry.
            let requests = session.unacked.keys.sorted().map { session.unacked[$0]! }
            session.sentAt = now
            queueWorkload!.session = session
            try proposeQueue(.send(requests), at: target, op: .session(epoch: session.epoch, requests: requests))
        } else {
            queueWorkload!.session = session
        }
    }

    func consumerStep(_ target: NodeID) throws(InvariantViolation) {
        let config = queueWorkload!.config
        let c = rng.uniform(0..<config.consumers)
        var consumer = queueWorkload!.consumers[c]
        if let pending = consumer.pending {
            guard now - pending.sentAt >= config.retryAfter else { return }
            if try proposeQueue(.receive([pending.request]), at: target, op: .receive(c)) {
                consumer.pending = (pending.request, now)
            }
        } else {
            consumer.count += 1
            let request = ReceiveRequest(
                maxMessages: rng.uniform(1...5),
                visibilityTimeoutSeconds: rng.uniform(0..<3) == 0 ? rng.uniform(1...3) : nil,
                requestAttemptID: rng.uniform(0..<2) == 0 ? "c\(c)-\(consumer.count)" : nil
            )
            consumer.pending = (request, now)
            try proposeQueue(.receive([request]), at: target, op: .receive(c))
        }
        queueWorkload!.consumers[c] = consumer
    }

    /// Deletes and visibility changes that are due (or whose answer is overdue), three at most per entry.
    func handleStep(_ target: NodeID) throws(InvariantViolation) {
        let retryAfter = queueWorkload!.config.retryAfter
        let due = queueWorkload!.handleOps.indices.filter { at in
            let op = queueWorkload!.handleOps[at]
            return op.due <= now && (op.sentAt.map { now - $0 >= retryAfter } ?? true)
        }
        guard let first = due.first else { return }
        let deleting = queueWorkload!.handleOps[first].seconds == nil
        let chosen = Array(due.filter { (queueWorkload!.handleOps[$0].seconds == nil) == deleting }.prefix(3))
        let ops = chosen.map { queueWorkload!.handleOps[$0] }
        let command: QueueCommand =
            deleting
            ? .delete(ops.map(\.handle))
            : .changeVisibility(ops.map { VisibilityChange(handle: $0.handle, visibilityTimeoutSeconds: $0.seconds!) })
        for at in chosen {
            queueWorkload!.handleOps[at].sentAt = now
            queueWorkload!.handleOps[at].attempts += 1
        }
        // Give up after a few attempts: the visibility timeout then hands the message out again.
        queueWorkload!.handleOps.removeAll { $0.attempts > 4 }
        try proposeQueue(command, at: target, op: .handles(ops.map(\.id)))
    }

    /// A node (the leader, or at the end any replica) sends its outbox to the dead-letter queue, losing some
    /// sends and acknowledgements when `lossy`, and then proposes `acknowledgeMoves` for what it took.
    func pumpMoves(from leader: NodeID, lossy: Bool) throws(InvariantViolation) {
        guard nodes[index(leader)].isUp, !nodes[index(leader)].paused,
            let queue = nodes[index(leader)].stateMachine.queue
        else { return }
        let config = queueWorkload!.config
        var taken: [UInt64] = []
        for move in queue.pendingMoves(limit: lossy ? 5 : .max) {
            if lossy && rng.chance(percent: config.moveLossPercent) { continue }
            queueWorkload!.dlqIndex += 1
            queueWorkload!.dlqClock = max(queueWorkload!.dlqClock, Int64(now))
            let entry = QueueEntry(timestampMs: queueWorkload!.dlqClock, command: .send([move.request]))
            let result = queueWorkload!.dlq!.apply(index: queueWorkload!.dlqIndex, entry: entry)
            guard case .sent(let outcomes) = result, let outcome = outcomes.first, let origin = move.request.origin
            else {
                throw InvariantViolation(invariant: "queueContract", detail: "dead-letter queue answered \(result)")
            }
            switch outcome {
            case .success(.enqueued):
                queueWorkload!.dlqOrigins[origin.position, default: 0] += 1
                guard queueWorkload!.dlqOrigins[origin.position] == 1 else {
                    throw InvariantViolation(
                        invariant: "queueContract",
                        detail: "dead letter \(origin.position) enqueued twice in the dead-letter queue"
                    )
                }
            case .success(.duplicate):
                queueWorkload!.checker.probe(.moveRepeated)
            default:
                throw InvariantViolation(
                    invariant: "queueContract",
                    detail: "dead-letter queue refused a move: \(outcome)"
                )
            }
            taken.append(move.id)
        }
        if lossy && !taken.isEmpty && !rng.chance(percent: config.moveAckLossPercent) {
            try proposeQueue(.acknowledgeMoves(taken), at: leader, op: .other)
        }
    }

    // MARK: Answers

    /// A node applied an entry: compare its result with the first replica's, or feed the contract checker.
    func queueApplied(_ entry: Entry, at node: NodeID) throws(InvariantViolation) {
        guard let result = nodes[index(node)].stateMachine.lastQueueResult else { return }
        if let first = queueWorkload!.firstResults[entry.index] {
            guard first == result else {
                throw InvariantViolation(
                    invariant: "queueDeterminism",
                    detail: "node \(node) got a different result at \(entry.index): \(result) vs \(first)"
                )
            }
            return
        }
        queueWorkload!.firstResults[entry.index] = result
        let nowMs = nodes[index(node)].stateMachine.queue!.nowMs
        try queueWorkload!.checker.observe(index: entry.index, payload: entry.payload, result: result, nowMs: nowMs)
        if entry.index % 64 == 0 {
            let problems = nodes[index(node)].stateMachine.queue!.invariantViolations()
            guard problems.isEmpty else {
                throw InvariantViolation(invariant: "queueInvariants", detail: problems.joined(separator: "; "))
            }
        }
    }

    /// The proposing node applied the client's entry in the term it proposed it: the client gets the result.
    func queueAcknowledged(_ payloadID: UInt64, at node: NodeID) throws(InvariantViolation) {
        guard let op = queueWorkload!.ops.removeValue(forKey: payloadID),
            let result = nodes[index(node)].stateMachine.lastQueueResult
        else { return }
        func fail(_ detail: String) -> InvariantViolation {
            InvariantViolation(invariant: "queueClient", detail: detail)
        }
        switch (op, result) {
        case (.plain(let p), .sent(let outcomes)):
            guard queueWorkload!.plain[p].pending != nil else { return }
            for outcome in outcomes {
                guard case .success(let sent) = outcome, let position = sent.position else {
                    throw fail("plain send answered \(outcome)")
                }
                guard queueWorkload!.checker.messages[position.sequenceNumber] != nil else {
                    throw fail("plain send acknowledged with \(position), which was never enqueued")
                }
                queueWorkload!.acknowledgedSends.append(position)
            }
            queueWorkload!.plain[p].pending = nil
        case (.session(let epoch, let requests), .sent(let outcomes)):
            try sessionAnswered(epoch: epoch, requests: requests, outcomes: outcomes)
        case (.receive(let c), .received(let outcomes)):
            queueWorkload!.consumers[c].pending = nil
            for outcome in outcomes {
                switch outcome {
                case .success(let received): consume(received)
                case .failure(.tooManyInFlight): break
                case .failure(let error): throw fail("receive refused: \(error)")
                }
            }
        case (.handles(let ids), .deleted(let outcomes)):
            for (id, outcome) in zip(ids, outcomes) {
                switch outcome {
                case .success, .failure(.staleReceiptHandle): break
                case .failure(let error): throw fail("delete \(id) refused: \(error)")
                }
            }
            queueWorkload!.handleOps.removeAll { ids.contains($0.id) }
        case (.handles(let ids), .visibilityChanged(let outcomes)):
            for outcome in outcomes {
                switch outcome {
                case .success, .failure(.staleReceiptHandle), .failure(.messageNotInFlight), .failure(.messageGone):
                    break
                case .failure(let error): throw fail("visibility change refused: \(error)")
                }
            }
            queueWorkload!.handleOps.removeAll { ids.contains($0.id) }
        case (_, .rejected(let error)):
            throw fail("command refused: \(error)")
        default:
            break
        }
    }

    private func sessionAnswered(
        epoch: UInt32,
        requests: [SendRequest],
        outcomes: [Result<SendOutcome, QueueError>]
    ) throws(InvariantViolation) {
        guard epoch == queueWorkload!.session.epoch else { return }
        for (request, outcome) in zip(requests, outcomes) {
            guard let sequence = request.producer?.sequence else { continue }
            // The answer to an earlier attempt can arrive after a later attempt succeeded (another replica
            // applied the earlier entry later): a refusal then says nothing about this sequence any more.
            if case .failure = outcome, queueWorkload!.session.unacked[sequence] == nil { continue }
            switch outcome {
            case .success(let sent):
                queueWorkload!.session.unacked[sequence] = nil
                guard let position = sent.position else { continue }
                queueWorkload!.session.acked[sequence] = position
                queueWorkload!.acknowledgedSends.append(position)
                // Producer order: positions increase with sequence numbers within an epoch.
                for (other, otherPosition) in queueWorkload!.session.acked
                where (other < sequence) != (otherPosition.sequenceNumber < position.sequenceNumber)
                    && other != sequence
                {
                    throw InvariantViolation(
                        invariant: "queueClient",
                        detail: "session sends \(other) and \(sequence) landed at \(otherPosition) and \(position)"
                    )
                }
            case .failure(.outOfOrderSequence):
                queueWorkload!.session.sentAt = 0  // resend from the first unacknowledged at the next step
            case .failure(.unknownProducer) where queueWorkload!.session.acked.isEmpty:
                // The session's first send was lost; sessions never expire within a simulated run.
                queueWorkload!.session.sentAt = 0
            case .failure(let error):
                throw InvariantViolation(invariant: "queueClient", detail: "session send \(sequence) refused: \(error)")
            }
        }
    }

    /// A consumer decides each delivery's fate: delete it soon, change its visibility, or "crash" on it.
    private func consume(_ outcome: ReceiveOutcome) {
        let config = queueWorkload!.config
        for delivery in outcome.deliveries {
            let draw = rng.uniform(0..<100)
            var op = QueueWorkload.HandleOp(id: queueWorkload!.nextHandleOpID, handle: delivery.handle, due: now)
            queueWorkload!.nextHandleOpID += 1
            if draw < config.deletePercent {
                op.due = now + rng.uniform(0...UInt64(config.visibilitySeconds) * 600)
            } else if draw < config.deletePercent + config.changeVisibilityPercent {
                op.seconds = rng.uniform(0..<2) == 0 ? 0 : rng.uniform(1...4)
            } else {
                continue  // the consumer crashed: visibility expires, the message comes back
            }
            queueWorkload!.handleOps.append(op)
        }
    }

    // MARK: End of run

    /// After healing: every move reaches the dead-letter queue, then every acknowledged send is accounted for
    /// on every replica that applied the whole log, replicas at one index hold the same state, and each dead
    /// letter is in the dead-letter queue exactly once.
    func checkQueueContractAtEnd() throws(InvariantViolation) {
        func fail(_ detail: String) -> InvariantViolation {
            InvariantViolation(invariant: "queueContractEnd", detail: detail)
        }
        let checker = queueWorkload!.checker
        let complete = nodes.filter { ($0.stateMachine.queue?.appliedIndex ?? 0) >= checker.observedIndex && $0.isUp }
        guard !complete.isEmpty else { throw fail("no replica applied the whole log") }
        if queueWorkload!.dlq != nil { try pumpMoves(from: complete[0].id, lossy: false) }
        for node in complete {
            let queue = node.stateMachine.queue!
            let problems = queue.invariantViolations()
            guard problems.isEmpty else { throw fail("node \(node.id): \(problems.joined(separator: "; "))") }
            for position in queueWorkload!.acknowledgedSends {
                let sequence = position.sequenceNumber
                guard checker.messages[sequence] != nil else { throw fail("acknowledged \(position) never enqueued") }
                if checker.gone[sequence] == nil && !queue.contains(position) {
                    throw fail("acknowledged send \(position) lost on node \(node.id)")
                }
            }
        }
        let reference = complete[0].stateMachine.queue!
        for node in complete.dropFirst() where node.stateMachine.queue!.appliedIndex == reference.appliedIndex {
            guard node.stateMachine.queue!.snapshot() == reference.snapshot() else {
                throw fail("nodes \(complete[0].id) and \(node.id) differ at index \(reference.appliedIndex)")
            }
        }
        if queueWorkload!.dlq != nil {
            for position in checker.deadLettered where queueWorkload!.dlqOrigins[position] != 1 {
                throw fail(
                    "dead letter \(position) reached the dead-letter queue \(queueWorkload!.dlqOrigins[position] ?? 0) times"
                )
            }
        }
    }
}
