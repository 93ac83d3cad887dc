import FerryQueue
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Sends, deletes and visibility changes (receives: `FerryClient+Receive`). A call that touches several partitions asks them all at
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
