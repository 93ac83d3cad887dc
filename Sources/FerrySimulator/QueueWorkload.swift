import FerryModel
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
            try proposalRefused(error)
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
}
