import FerryQueue
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Sends, receives, deletes and visibility changes. A call that touches several partitions asks them all at
/// once (`callPartitions`): one round trip, not one per partition in turn.
extension FerryClient {
    // MARK: Several partitions at once

    /// Starts one request per partition at once, each at the node believed to lead it, and waits for every
    /// answer (results in the order of `requests`). An answer that is a retriable refusal (another node leads,
    /// no quorum yet) or a broken connection is asked again, one partition at a time, through `callPartition`,
    /// which follows hints until the retry deadline. Other answers, `timeout` (an unknown outcome) among them,
    /// are returned as they are: the caller knows whether its request may be repeated.
    func callPartitions(
        _ queue: QueueDescription,
        _ requests: [(partition: UInt32, request: ClientRequest)],
        timeoutMs: Int64? = nil
    ) -> [Result<ClientResponse, FerryClientError>] {
        let futures = requests.map { item -> EventLoopFuture<ClientResponse> in
            let target = route(queue, item.partition, attempt: Int(item.partition)).node
            do {
                return try connection(target.0, target.1)
                    .start(item.request, timeoutMs: timeoutMs ?? options.requestTimeoutMs)
            } catch {
                return group.next().makeFailedFuture(error)
            }
        }
        var results: [Result<ClientResponse, FerryClientError>] = []
        results.reserveCapacity(requests.count)
        for (item, future) in zip(requests, futures) {
            let first: Result<ClientResponse, FerryClientError>
            do {
                first = .success(try future.wait())
            } catch let error as FerryClientError {
                first = .failure(error)
            } catch {
                first = .failure(.unreachable("\(error)"))
            }
            switch first {
            case .success(.error(let error)) where error.code.isRetriable:
                if error.code == .notLeader, let groupID = route(queue, item.partition, attempt: 0).groupID {
                    noteLeader(group: groupID, node: error.leaderHint)
                }
                results.append(askAgain(queue, item))
            case .failure(.unreachable):
                results.append(askAgain(queue, item))
            default:
                results.append(first)
            }
        }
        return results
    }

    private func askAgain(
        _ queue: QueueDescription,
        _ item: (partition: UInt32, request: ClientRequest)
    ) -> Result<ClientResponse, FerryClientError> {
        do {
            return .success(try callPartition(queue, item.partition, item.request))
        } catch {
            return .failure(error)
        }
    }

    // MARK: Send

    /// Sends messages: each to its group's partition (round-robin without a group), in order within a
    /// partition. Results come back in the order of `messages`. The partitions' batches leave at once; a
    /// batch whose outcome is unknown (leader change) is sent again when every message in it carries a
    /// deduplication id or a producer stamp (the partition enqueues it once inside the window), and is a
    /// `timeout` failure otherwise.
    public func send(
        _ queueName: String,
        _ messages: [SendRequest]
    ) throws(FerryClientError) -> [Result<SendOutcome, WireError>] {
        let queue = try queue(queueName)
        var byPartition: [UInt32: [Int]] = [:]
        for (at, message) in messages.enumerated() {
            let partition: UInt32
            if let group = message.groupID {
                partition = Catalog.partition(forGroup: group, partitions: queue.partitions)
            } else {
                partition = lock.withLock {
                    roundRobin += 1
                    return UInt32(roundRobin % Int(queue.partitions))
                }
            }
            byPartition[partition, default: []].append(at)
        }
        // One request per chunk of at most maxBatchEntries; a partition's chunks keep their order (a later chunk
        // is only sent once the earlier one is answered, so a retry can never overtake it).
        var chunks: [(partition: UInt32, indexes: [Int])] = []
        for partition in byPartition.keys.sorted() {
            let indexes = byPartition[partition]!
            for start in stride(from: 0, to: indexes.count, by: QueueLimits.maxBatchEntries) {
                chunks.append(
                    (partition, Array(indexes[start..<min(indexes.count, start + QueueLimits.maxBatchEntries)]))
                )
            }
        }
        var results = [Result<SendOutcome, WireError>?](repeating: nil, count: messages.count)
        // The first chunk of each partition goes out at once; the rest follow one by one.
        var firsts: [Int] = []
        var seen: Set<UInt32> = []
        for (at, chunk) in chunks.enumerated() where seen.insert(chunk.partition).inserted { firsts.append(at) }
        let request = { (chunk: (partition: UInt32, indexes: [Int])) in
            ClientRequest.send(
                queue: queueName,
                partition: chunk.partition,
                requests: chunk.indexes.map { messages[$0] }
            )
        }
        let answers = callPartitions(queue, firsts.map { (chunks[$0].partition, request(chunks[$0])) })
        var answered: [Int: Result<ClientResponse, FerryClientError>] = [:]
        for (at, answer) in zip(firsts, answers) { answered[at] = answer }
        for (at, chunk) in chunks.enumerated() {
            let requests = chunk.indexes.map { messages[$0] }
            let idempotent = requests.allSatisfy { $0.deduplicationID != nil || $0.producer != nil }
            let response = try settle(answered[at], repeatable: idempotent) { () throws(FerryClientError) in
                try callPartition(queue, chunk.partition, request(chunk))
            }
            let outcomes = try Self.expect(response) { if case .sent(let r) = $0 { r } else { nil } }
            for (index, outcome) in zip(chunk.indexes, outcomes) { results[index] = outcome }
        }
        return results.map { $0! }
    }

    /// The final answer to a request that may be repeated only when `repeatable`: `first` (or a fresh call) is
    /// asked again while its outcome is unknown, until the retry deadline.
    func settle(
        _ first: Result<ClientResponse, FerryClientError>?,
        repeatable: Bool,
        _ call: () throws(FerryClientError) -> ClientResponse
    ) throws(FerryClientError) -> ClientResponse {
        let end = Self.nowMs() + options.retryDeadlineMs
        var current = first
        while true {
            switch current {
            case .success(.error(let error))? where error.code == .timeout && repeatable && Self.nowMs() < end:
                break
            case .success(let response)?:
                return response
            case .failure(.timeout(let detail))?:
                guard repeatable, Self.nowMs() < end else { throw .timeout(detail) }
            case .failure(let error)?:
                throw error
            case nil:
                break
            }
            if current != nil { usleep(20_000) }
            do {
                current = .success(try call())
            } catch {
                current = .failure(error)
            }
        }
    }

    // MARK: Receive

    /// Receives up to `maxMessages` from the queue, waiting up to `waitMs` in all for at least one (long poll),
    /// as SQS does: the batch is filled from every partition that has messages, several messages of one FIFO
    /// group in order, then other groups, the group whose head became available first coming first.
    ///
    /// Every partition is first asked at once what it could hand out (`summarizeDeliverable`, which changes
    /// nothing); then each partition that can is asked, at once, for its share, so no partition takes into
    /// flight more than the batch returns. With nothing anywhere, every partition is watched at once until one
    /// has something, and the batch is filled from what is ready in that moment. A retry with the same
    /// `requestAttemptID` asks only the partitions that remember that attempt, which hand out the same messages.
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
            let summaries = try summarize(queue, maxMessages: maxMessages, requestAttemptID: requestAttemptID)
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

    /// Each partition's summary, asked at once; partitions that could not be asked are left out (they are asked
    /// again in the next round). A definitive refusal (the queue is gone) is thrown.
    func summarize(
        _ queue: QueueDescription,
        maxMessages: Int,
        requestAttemptID: String?
    ) throws(FerryClientError) -> [UInt32: DeliverableSummary] {
        let requests = (0..<queue.partitions).map { partition in
            (
                partition,
                ClientRequest.summarizeDeliverable(
                    queue: queue.name,
                    partition: partition,
                    maxMessages: UInt16(clamping: maxMessages),
                    requestAttemptID: requestAttemptID,
                    waitMs: 0
                )
            )
        }
        var summaries: [UInt32: DeliverableSummary] = [:]
        for ((partition, _), result) in zip(requests, callPartitions(queue, requests)) {
            switch result {
            case .success(.deliverable(let summary)): summaries[partition] = summary
            case .success(.error(let error)) where !error.code.isRetriable && error.code != .timeout:
                throw .server(error)
            default: break
            }
        }
        return summaries
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

    // MARK: Delete and change visibility

    /// Deletes deliveries by receipt handle (one partition's). Deleting again is harmless (a deleted message
    /// answers `alreadyGone`), so an unknown outcome is asked again.
    public func delete(
        _ queueName: String,
        partition: UInt32,
        _ handles: [ReceiptHandle]
    ) throws(FerryClientError)
        -> [Result<DeleteOutcome, WireError>]
    {
        try delete(queueName, handles)
    }

    /// Deletes deliveries by receipt handle, whatever their partitions (each partition's at once); results in
    /// the order of `handles`. A handle naming a partition the queue does not have is `invalidReceiptHandle`.
    public func delete(
        _ queueName: String,
        _ handles: [ReceiptHandle]
    ) throws(FerryClientError) -> [Result<DeleteOutcome, WireError>] {
        try byPartition(queueName, handles, partition: \.position.partition) { queue, partition, chunk in
            .delete(queue: queue, partition: partition, handles: chunk)
        } pick: { response in
            if case .deleted(let r) = response { r } else { nil }
        }
    }

    /// Changes the visibility timeout of deliveries by receipt handle (one partition's), each answered with the
    /// time it becomes visible again. Setting a timeout again is harmless, so an unknown outcome is asked again.
    public func changeVisibility(
        _ queueName: String,
        partition: UInt32,
        _ changes: [VisibilityChange]
    ) throws(FerryClientError)
        -> [Result<Int64, WireError>]
    {
        try changeVisibility(queueName, changes)
    }

    /// Changes visibility timeouts whatever the handles' partitions (each partition's at once); results in the
    /// order of `changes`.
    public func changeVisibility(
        _ queueName: String,
        _ changes: [VisibilityChange]
    ) throws(FerryClientError) -> [Result<Int64, WireError>] {
        try byPartition(queueName, changes, partition: \.handle.position.partition) { queue, partition, chunk in
            .changeVisibility(queue: queue, partition: partition, changes: chunk)
        } pick: { response in
            if case .visibilityChanged(let r) = response { r } else { nil }
        }
    }

    /// Items grouped by partition, one request per partition, all at once; answers put back in the items' order.
    /// The requests must be safe to repeat (an unknown outcome is asked again).
    private func byPartition<Item, Answer>(
        _ queueName: String,
        _ items: [Item],
        partition: (Item) -> UInt32,
        request: (String, UInt32, [Item]) -> ClientRequest,
        pick: (ClientResponse) -> [Result<Answer, WireError>]?
    ) throws(FerryClientError) -> [Result<Answer, WireError>] {
        let queue = try queue(queueName)
        var results = [Result<Answer, WireError>?](repeating: nil, count: items.count)
        var slots: [UInt32: [Int]] = [:]
        for (at, item) in items.enumerated() {
            let part = partition(item)
            guard part < queue.partitions else {
                results[at] = .failure(WireError(.invalidReceiptHandle, "queue \(queueName) has no partition \(part)"))
                continue
            }
            slots[part, default: []].append(at)
        }
        let order = slots.keys.sorted()
        let requests = order.map { part in (part, request(queueName, part, slots[part]!.map { items[$0] })) }
        for (item, first) in zip(requests, callPartitions(queue, requests)) {
            let response = try settle(first, repeatable: true) { () throws(FerryClientError) in
                try callPartition(queue, item.0, item.1)
            }
            let answers = try Self.expect(response, pick)
            for (at, answer) in zip(slots[item.0]!, answers) { results[at] = answer }
        }
        return results.map { $0 ?? .failure(WireError(.internal, "no answer")) }
    }
}
