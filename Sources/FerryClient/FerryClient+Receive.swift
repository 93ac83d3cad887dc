import FerryQueue
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Receives: a batch filled from every partition, and long polls that watch every partition at once.
extension FerryClient {
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
    ) throws(FerryClientError) -> [(partition: UInt32, delivery: Delivery)] {
        let queue = try queue(queueName)
        let template = ReceiveRequest(
            maxMessages: maxMessages,
            visibilityTimeoutSeconds: visibilityTimeoutSeconds,
            requestAttemptID: requestAttemptID
        )
        // One partition: its receive long-polls at the leader itself.
        if queue.partitions == 1 {
            return try receive(queue, [(0, maxMessages)], template, waitMs: waitMs).map { (0, $0.delivery) }
        }
        let end = Self.nowMs() + Int64(waitMs)
        let rotation = lock.withLock {
            roundRobin += 1
            return roundRobin
        }
        var rounds = 0
        while true {
            rounds += 1
            let whole = requestAttemptID == nil ? UInt32((rotation + rounds) % Int(queue.partitions)) : nil
            var summaries: [UInt32: DeliverableSummary] = [:]
            if let whole, lock.withLock({ backlogged.contains(queue.id) }) {
                switch try look(queue, template, whole: whole, asking: [whole]) {
                case .received(let partition, let deliveries): return deliveries.map { (partition, $0) }
                case .summaries(let answers): summaries = answers
                }
            }
            let rest = (0..<queue.partitions).filter { summaries[$0] == nil }
            switch try look(queue, template, whole: summaries.isEmpty ? whole : nil, asking: rest) {
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
                let received = try receive(queue, plan, template, waitMs: 0)
                if !received.isEmpty { return received }
                // Another consumer took them first (or they went to the dead-letter queue): look again soon.
                usleep(10_000)
            }
            let remaining = end - Self.nowMs()
            if remaining <= 0 {
                // A short poll looks twice at most when the first look raced with another consumer.
                if plan.isEmpty || rounds >= 2 { return [] }
                continue
            }
            awaitAnyPartition(queue, maxMessages: maxMessages, requestAttemptID: requestAttemptID, waitMs: remaining)
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
    ) throws(FerryClientError) -> Look {
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
        for ((partition, _), result) in zip(requests, callPartitions(queue, requests)) {
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
    ) throws(FerryClientError) -> [(partition: UInt32, delivery: Delivery)] {
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
        for (item, first) in zip(requests, callPartitions(queue, requests, timeoutMs: timeoutMs)) {
            do throws(FerryClientError) {
                let response = try settle(first, repeatable: true) { () throws(FerryClientError) in
                    try callPartition(queue, item.0, item.1)
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
    ) {
        let waitMs = min(waitMs, 20_000)
        let started = Self.nowMs()
        let answers = NIOLockedValueBox((pending: Int(queue.partitions), ready: false))
        let wake = ConditionLock(value: 0)
        for partition in 0..<queue.partitions {
            let (groupID, target) = route(queue, partition, attempt: Int(partition))
            let request = ClientRequest.summarizeDeliverable(
                queue: queue.name,
                partition: partition,
                maxMessages: UInt16(clamping: maxMessages),
                requestAttemptID: requestAttemptID,
                waitMs: UInt32(waitMs)
            )
            let future: EventLoopFuture<ClientResponse>
            do {
                future = try connection(target.0, target.1).start(request, timeoutMs: waitMs + options.requestTimeoutMs)
            } catch {
                future = group.next().makeFailedFuture(error)
            }
            // Weak: the client's last reference must not go on its own event loop (its deinit shuts the loop down).
            future.whenComplete { [weak self] result in
                // A refusal (the partition's leader moved, or the node is behind) ends the wait too: otherwise a
                // message sent to that partition would wait for the other polls' deadline. The next round follows
                // the hint.
                var refused = false
                var ready = false
                switch result {
                case .success(.deliverable(let summary)):
                    ready = summary.mayDeliver
                case .success(.error(let error)):
                    refused = true
                    if let groupID, error.code == .notLeader {
                        self?.noteLeader(group: groupID, node: error.leaderHint)
                    }
                default:
                    refused = true
                }
                let done = answers.withLockedValue { state in
                    state.pending -= 1
                    state.ready = state.ready || ready
                    return state.ready || state.pending == 0 || refused
                }
                if done {
                    wake.lock()
                    wake.unlock(withValue: 1)
                }
            }
        }
        if wake.lock(whenValue: 1, timeoutSeconds: Double(waitMs) / 1_000) { wake.unlock() }
        // A round that ended at once (no leader known, a refusal) must not spin: the next round waits a little.
        if Self.nowMs() - started < 20, !answers.withLockedValue(\.ready) { usleep(50_000) }
    }
}
