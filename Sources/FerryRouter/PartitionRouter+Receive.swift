import FerryModel
import FerryNet
import FerryWire
import NIOConcurrencyHelpers

/// Receives: a batch filled from every partition, and long polls that watch every partition at once.
extension PartitionRouter {
    /// Receives up to `maxMessages` from the queue, waiting up to `waitMs` in all for at least one (long poll),
    /// as SQS does: the batch is filled from every partition that has messages, several messages of one FIFO
    /// group in order, then other groups, the group whose head became available first coming first.
    ///
    /// Every partition is first asked at once what it could hand out (`summarizeDeliverable`, which changes
    /// nothing), except one, taken in turn, that is asked to receive the whole batch if it can fill it alone
    /// (`receiveIfFull`): under a backlog that answers in one round trip. While the queue has a backlog (the last
    /// look found a partition that could fill a batch alone), that one partition is asked first and alone, so a
    /// receive costs the nodes one request, as a receive of one partition does. Otherwise each partition that
    /// can give is asked, at once, for its share, so no partition takes into flight more than the batch returns. With
    /// nothing anywhere, every partition is watched at once until one has something, and the batch is filled
    /// from what is ready in that moment. A retry with the same `requestAttemptID` asks only the partitions
    /// that remember that attempt, which hand out the same messages (and never receives whole batches blindly).
    ///
    /// FIFO order across partitions (the group waiting longest first) holds when the batch is filled from
    /// several partitions; a partition that fills it alone gives its own groups in that order. SQS promises no
    /// order across groups.
    public func receive(
        _ queueName: String,
        maxMessages: Int = 1,
        waitMs: UInt32 = 0,
        visibilityTimeoutSeconds: Int? = nil,
        requestAttemptID: String? = nil
    ) async throws(FerryClientError) -> [(partition: UInt32, delivery: Delivery)] {
        let queue = try await queue(queueName)
        let template = ReceiveRequest(
            maxMessages: maxMessages,
            visibilityTimeoutSeconds: visibilityTimeoutSeconds,
            requestAttemptID: requestAttemptID
        )
        // One partition: its receive long-polls at the leader itself.
        if queue.partitions == 1 {
            return try await receive(queue, [(0, maxMessages)], template, waitMs: waitMs).map { (0, $0.delivery) }
        }
        let end = Self.nowMs() + Int64(waitMs)
        let rotation = nextTurn()
        var rounds = 0
        while true {
            rounds += 1
            let whole = requestAttemptID == nil ? UInt32((rotation + rounds) % Int(queue.partitions)) : nil
            var summaries: [UInt32: DeliverableSummary] = [:]
            if let whole, lock.withLock({ backlogged.contains(queue.id) }) {
                switch try await look(queue, template, whole: whole, asking: [whole]) {
                case .received(let partition, let deliveries): return deliveries.map { (partition, $0) }
                case .summaries(let answers): summaries = answers
                }
            }
            let rest = (0..<queue.partitions).filter { summaries[$0] == nil }
            switch try await look(queue, template, whole: summaries.isEmpty ? whole : nil, asking: rest) {
            case .received(let partition, let deliveries):
                lock.withLock { _ = backlogged.insert(queue.id) }
                return deliveries.map { (partition, $0) }
            case .summaries(let answers): summaries.merge(answers) { $1 }
            }
            let backlog = summaries.values.contains { $0.count >= maxMessages }
            lock.withLock { if backlog { backlogged.insert(queue.id) } else { backlogged.remove(queue.id) } }
            let plan = Self.plan(
                summaries,
                maxMessages: maxMessages,
                fifo: QueueName.kind(of: queue.name) == .fifo,
                rotation: rotation
            )
            if !plan.isEmpty {
                let received = try await receive(queue, plan, template, waitMs: 0)
                if !received.isEmpty { return received }
                // Another consumer took them first (or they went to the dead-letter queue): look again soon.
                await Self.pause(ms: 10)
            }
            let remaining = end - Self.nowMs()
            if remaining <= 0 {
                // A short poll looks twice at most when the first look raced with another consumer.
                if plan.isEmpty || rounds >= 2 { return [] }
                continue
            }
            await awaitAnyPartition(
                queue,
                maxMessages: maxMessages,
                requestAttemptID: requestAttemptID,
                waitMs: remaining
            )
        }
    }

    /// What one look at the partitions found: a whole batch that one partition gave, or each partition's summary.
    enum Look {
        case received(partition: UInt32, [Delivery])
        case summaries([UInt32: DeliverableSummary])
    }

    /// Asks the partitions `asking` at once: `whole` to receive the whole batch if it can fill it alone, the
    /// others for their summaries. Partitions that could not be asked are left out (they are asked again in the
    /// next round). Deliveries are returned whatever else happened (they are in flight); else a definitive
    /// refusal (the queue is gone) is thrown.
    func look(
        _ queue: QueueDescription,
        _ template: ReceiveRequest,
        whole: UInt32?,
        asking: [UInt32]
    ) async throws(FerryClientError) -> Look {
        guard !asking.isEmpty else { return .summaries([:]) }
        let requests = asking.map { partition in
            (
                partition,
                partition == whole
                    ? ClientRequest.receiveIfFull(queue: queue.name, partition: partition, request: template)
                    : ClientRequest.summarizeDeliverable(
                        queue: queue.name,
                        partition: partition,
                        maxMessages: UInt16(clamping: template.maxMessages),
                        requestAttemptID: template.requestAttemptID,
                        waitMs: 0
                    )
            )
        }
        var summaries: [UInt32: DeliverableSummary] = [:]
        var refusal: WireError?
        for ((partition, _), result) in zip(requests, await callPartitions(queue, requests)) {
            switch result {
            case .success(.received(let deliveries)) where !deliveries.isEmpty:
                return .received(partition: partition, deliveries)
            case .success(.deliverable(let summary)): summaries[partition] = summary
            case .success(.error(let error)) where !error.code.isRetriable && error.code != .timeout:
                refusal = refusal ?? error
            default: break
            }
        }
        if let refusal { throw .server(refusal) }
        return .summaries(summaries)
    }

    /// Who gives how many: partitions that remember the request attempt give that batch again and nobody else
    /// gives anything; otherwise FIFO partitions in the order of their first ready group (SQS's group order
    /// across the queue), standard ones starting at `rotation` (so no partition is always last), each as many
    /// as it has until the batch is full. Room left is shared among the partitions with a passed deadline that
    /// no entry applied yet (their receive applies it first, so they may give more than they counted); the
    /// shares never add up to more than the batch.
    package static func plan(
        _ summaries: [UInt32: DeliverableSummary],
        maxMessages: Int,
        fifo: Bool,
        rotation: Int
    ) -> [(partition: UInt32, count: Int)] {
        let repeated = summaries.filter { $0.value.repeatedAttemptCount > 0 }.keys.sorted()
        if !repeated.isEmpty { return repeated.map { ($0, max(1, summaries[$0]!.repeatedAttemptCount)) } }
        let partitions = summaries.keys.sorted()
        guard !partitions.isEmpty else { return [] }
        let start = rotation % partitions.count
        var order = Array(partitions[start...] + partitions[..<start])
        if fifo {
            // Stable: equal (or unknown) first-group times keep the rotation's order.
            let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($0.element, $0.offset) })
            order.sort { a, b in
                let x = summaries[a]!.firstAvailableAtMs ?? .max
                let y = summaries[b]!.firstAvailableAtMs ?? .max
                return x != y ? x < y : rank[a]! < rank[b]!
            }
        }
        var left = maxMessages
        var shares: [UInt32: Int] = [:]
        for partition in order where left > 0 {
            let share = min(left, summaries[partition]!.count)
            guard share > 0 else { continue }
            shares[partition] = share
            left -= share
        }
        let pending = order.filter { summaries[$0]!.pendingDeadline }
        for (at, partition) in pending.enumerated() where left > 0 {
            // An even split of what is left, the first ones taking the remainder.
            let share = (left + pending.count - at - 1) / (pending.count - at)
            shares[partition, default: 0] += share
            left -= share
        }
        return order.compactMap { partition in shares[partition].map { (partition, $0) } }
    }

    /// Receives each partition's share at once and merges the answers in SQS's order. A receive whose outcome
    /// is unknown (the leader changed before it applied) is asked again: what it may have delivered comes back
    /// after its visibility timeout, as with any receive lost in transit. A partition that fails is left out
    /// when others answered (its share stays where it was); with nothing received its error is thrown.
    func receive(
        _ queue: QueueDescription,
        _ plan: [(partition: UInt32, count: Int)],
        _ template: ReceiveRequest,
        waitMs: UInt32
    ) async throws(FerryClientError) -> [(partition: UInt32, delivery: Delivery)] {
        let requests = plan.map { share in
            var request = template
            request.maxMessages = share.count
            return (
                share.partition,
                ClientRequest.receive(queue: queue.name, partition: share.partition, request: request, waitMs: waitMs)
            )
        }
        let timeoutMs = Int64(waitMs) + options.requestTimeoutMs
        var received: [(partition: UInt32, deliveries: [Delivery])] = []
        var failure: FerryClientError?
        for (item, first) in zip(requests, await callPartitions(queue, requests, timeoutMs: timeoutMs)) {
            do throws(FerryClientError) {
                let response = try await settle(first, repeatable: true) { () throws(FerryClientError) in
                    try await callPartition(queue, item.0, item.1, timeoutMs: timeoutMs)
                }
                let deliveries = try Self.expect(response) { if case .received(let d) = $0 { d } else { nil } }
                received.append((item.0, deliveries))
            } catch {
                failure = failure ?? error
            }
        }
        let merged = Self.merge(received, fifo: QueueName.kind(of: queue.name) == .fifo)
        if merged.isEmpty, let failure { throw failure }
        return merged
    }

    /// One batch from several partitions' answers. FIFO: each partition's answer is runs of one group in order;
    /// the runs are ordered by when their group's head became available (ties: partition, then position), so
    /// a group's messages stay together and in order. Standard: oldest available first.
    package static func merge(
        _ received: [(partition: UInt32, deliveries: [Delivery])],
        fifo: Bool
    ) -> [(partition: UInt32, delivery: Delivery)] {
        var runs: [(key: Int64, partition: UInt32, at: Int, items: [Delivery])] = []
        for (partition, deliveries) in received {
            for (at, delivery) in deliveries.enumerated() {
                if fifo, let last = runs.last, last.partition == partition, last.items.last?.groupID == delivery.groupID
                {
                    runs[runs.count - 1].items.append(delivery)
                } else {
                    runs.append((delivery.availableAtMs, partition, at, [delivery]))
                }
            }
        }
        runs.sort { ($0.key, $0.partition, $0.at) < ($1.key, $1.partition, $1.at) }
        return runs.flatMap { run in run.items.map { (run.partition, $0) } }
    }

    /// Watches every partition at once (`summarizeDeliverable` with a wait, which takes nothing into flight)
    /// and returns when the first can hand out something, when one refuses (the next round routes afresh), when
    /// every one answered that nothing came in time, or after `waitMs`. Answers that come later are dropped.
    func awaitAnyPartition(
        _ queue: QueueDescription,
        maxMessages: Int,
        requestAttemptID: String?,
        waitMs: Int64
    ) async {
        let waitMs = min(waitMs, 20_000)
        let started = Self.nowMs()
        let watch = PollWatch(pending: Int(queue.partitions))
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            watch.start(continuation)
            for partition in 0..<queue.partitions {
                let request = ClientRequest.summarizeDeliverable(
                    queue: queue.name,
                    partition: partition,
                    maxMessages: UInt16(clamping: maxMessages),
                    requestAttemptID: requestAttemptID,
                    waitMs: UInt32(waitMs)
                )
                let (groupID, target) = route(queue, partition, attempt: Int(partition))
                transport.start(request, at: target, timeoutMs: waitMs + options.requestTimeoutMs) {
                    [self] answer in
                    // A refusal (the partition's leader moved, or the node is behind) ends the wait too: otherwise
                    // a message sent to that partition would wait for the other polls' deadline. The next round
                    // follows the hint.
                    switch answer {
                    case .success(.deliverable(let summary)):
                        watch.answered(ready: summary.mayDeliver, refused: false)
                    case .success(.error(let error)):
                        if let groupID, error.code == .notLeader {
                            noteLeader(group: groupID, node: error.leaderHint)
                        }
                        watch.answered(ready: false, refused: true)
                    default:
                        watch.answered(ready: false, refused: true)
                    }
                }
            }
            transport.schedule(afterMs: waitMs) { watch.finish() }
        }
        // A round that ended at once (no leader known, a refusal) must not spin: the next round waits a little.
        if Self.nowMs() - started < 20, !watch.isReady { await Self.pause(ms: 50) }
    }
}

/// The state of one `awaitAnyPartition`: the continuation is resumed once, by the first answer that ends the
/// wait or by the deadline.
final class PollWatch: @unchecked Sendable {
    private let lock = NIOLock()
    private var pending: Int
    private var ready = false
    private var continuation: CheckedContinuation<Void, Never>?
    private var finished = false

    init(pending: Int) { self.pending = pending }

    var isReady: Bool { lock.withLock { ready } }

    /// Registers the waiter; resumes it at once when the wait already ended.
    func start(_ continuation: CheckedContinuation<Void, Never>) {
        let over = lock.withLock {
            if !finished { self.continuation = continuation }
            return finished
        }
        if over { continuation.resume() }
    }

    func answered(ready: Bool, refused: Bool) {
        let done = lock.withLock {
            pending -= 1
            self.ready = self.ready || ready
            return self.ready || pending == 0 || refused
        }
        if done { finish() }
    }

    func finish() {
        let waiting: CheckedContinuation<Void, Never>? = lock.withLock {
            guard !finished else { return nil }
            finished = true
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume()
    }
}
