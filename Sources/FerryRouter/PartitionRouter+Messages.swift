import FerryModel
import FerryNet
import FerryWire

/// Sends, deletes and visibility changes (receives: `PartitionRouter+Receive`). A call that touches several
/// partitions asks them all at once: one round trip, not one per partition in turn.
extension PartitionRouter {
    // MARK: Send

    /// Sends messages: each to its group's partition (round-robin without a group), in order within a
    /// partition. Results come back in the order of `messages`. The partitions' batches leave at once; a
    /// batch whose outcome is unknown (leader change) is sent again when every message in it carries a
    /// deduplication id or a producer stamp (the partition enqueues it once inside the window), and is a
    /// `timeout` failure otherwise.
    public func send(
        _ queueName: String,
        _ messages: [SendRequest]
    ) async throws(FerryClientError) -> [Result<SendOutcome, WireError>] {
        let queue = try await queue(queueName)
        var byPartition: [UInt32: [Int]] = [:]
        for (at, message) in messages.enumerated() {
            let partition =
                message.groupID.map { PartitionHash.partition(forGroup: $0, partitions: queue.partitions) }
                ?? UInt32(nextTurn() % Int(queue.partitions))
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
        let answers = await callPartitions(queue, firsts.map { (chunks[$0].partition, request(chunks[$0])) })
        var answered: [Int: Result<ClientResponse, FerryClientError>] = [:]
        for (at, answer) in zip(firsts, answers) { answered[at] = answer }
        for (at, chunk) in chunks.enumerated() {
            let idempotent = chunk.indexes.allSatisfy {
                messages[$0].deduplicationID != nil || messages[$0].producer != nil
            }
            let response = try await settle(answered[at], repeatable: idempotent) { () throws(FerryClientError) in
                try await callPartition(queue, chunk.partition, request(chunk))
            }
            let outcomes = try Self.expect(response) { if case .sent(let r) = $0 { r } else { nil } }
            for (index, outcome) in zip(chunk.indexes, outcomes) { results[index] = outcome }
        }
        return results.map { $0! }
    }

    // MARK: Delete and change visibility

    /// Deletes deliveries by receipt handle, whatever their partitions (each partition's at once); results in
    /// the order of `handles`. Deleting again is harmless (a deleted message answers `alreadyGone`), so an
    /// unknown outcome is asked again. A handle naming a partition the queue does not have is
    /// `invalidReceiptHandle`.
    public func delete(
        _ queueName: String,
        _ handles: [ReceiptHandle]
    ) async throws(FerryClientError) -> [Result<DeleteOutcome, WireError>] {
        try await byPartition(queueName, handles, partition: \.position.partition) { queue, partition, chunk in
            .delete(queue: queue, partition: partition, handles: chunk)
        } pick: { response in
            if case .deleted(let r) = response { r } else { nil }
        }
    }

    /// Changes visibility timeouts whatever the handles' partitions (each partition's at once), each answered
    /// with the time it becomes visible again; results in the order of `changes`. Setting a timeout again is
    /// harmless, so an unknown outcome is asked again.
    public func changeVisibility(
        _ queueName: String,
        _ changes: [VisibilityChange]
    ) async throws(FerryClientError) -> [Result<Int64, WireError>] {
        try await byPartition(queueName, changes, partition: \.handle.position.partition) { queue, partition, chunk in
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
    ) async throws(FerryClientError) -> [Result<Answer, WireError>] {
        let queue = try await queue(queueName)
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
        for (item, first) in zip(requests, await callPartitions(queue, requests)) {
            let response = try await settle(first, repeatable: true) { () throws(FerryClientError) in
                try await callPartition(queue, item.0, item.1)
            }
            let answers = try Self.expect(response, pick)
            for (at, answer) in zip(slots[item.0]!, answers) { results[at] = answer }
        }
        return results.map { $0 ?? .failure(WireError(.internal, "no answer")) }
    }
}
