import FerryQueue
import FerryWire
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A producer session (Kafka's idempotent producer, DESIGN §1): a cluster-wide producer id and epoch, and a
/// sequence per partition. Every send is stamped; a send whose outcome is unknown (leader change, timeout) is
/// repeated with the same stamps, so the partition answers a repeat with its first result and can never enqueue
/// it twice or out of order. Sends of one session are sequential (one batch per partition at a time).
public final class ProducerSession: @unchecked Sendable {
    public let client: FerryClient
    public let queue: String
    public private(set) var producerID: UInt64
    public private(set) var epoch: UInt32
    /// The next sequence per partition.
    private var next: [UInt32: UInt64] = [:]

    /// Starts a session: a new producer id, epoch 0.
    public init(client: FerryClient, queue: String) throws(FerryClientError) {
        self.client = client
        self.queue = queue
        let response = try client.call(.initProducer(producerID: nil), first: nil)
        (producerID, epoch) = try FerryClient.expect(response) {
            if case .producer(let id, let e) = $0 { (id, e) } else { nil }
        }
    }

    /// Sends messages (their `producer` stamps are set here), each to its group's partition, in order within a
    /// partition. Returns each message's outcome in the order given.
    public func send(_ messages: [SendRequest]) throws(FerryClientError) -> [Result<SendOutcome, WireError>] {
        let description = try client.queue(queue)
        var byPartition: [UInt32: [Int]] = [:]
        for (at, message) in messages.enumerated() {
            let partition =
                message.groupID.map { Catalog.partition(forGroup: $0, partitions: description.partitions) }
                ?? UInt32(at % Int(description.partitions))
            byPartition[partition, default: []].append(at)
        }
        var results = [Result<SendOutcome, WireError>?](repeating: nil, count: messages.count)
        for partition in byPartition.keys.sorted() {
            var waiting = byPartition[partition]!
            var resyncs = 0
            while !waiting.isEmpty {
                let chunk = Array(waiting.prefix(QueueLimits.maxBatchEntries))
                let first = next[partition, default: 0]
                let stamped = chunk.enumerated().map { offset, at in
                    var request = messages[at]
                    request.producer = ProducerStamp(
                        producerID: producerID,
                        epoch: epoch,
                        sequence: first + UInt64(offset)
                    )
                    return request
                }
                let outcomes = try sendStamped(stamped, to: description, partition: partition)
                // Accepted (or repeated) sends advance the sequence; the first refusal ends the run: the ones
                // after it were refused as a gap and go again with new stamps.
                var consumed = 0
                for (at, outcome) in zip(chunk, outcomes) {
                    switch outcome {
                    case .success:
                        results[at] = outcome
                        consumed += 1
                        next[partition] = first + UInt64(consumed)
                        continue
                    case .failure(let error) where error.code == .outOfOrderSequence:
                        break
                    case .failure:
                        results[at] = outcome
                        consumed += 1
                    }
                    break
                }
                if consumed == 0, case .failure(let error)? = outcomes.first, error.code == .outOfOrderSequence,
                    resyncs < 3
                {
                    // The partition expects another sequence (its answer to an earlier batch was lost): resume there.
                    resyncs += 1
                    next[partition] = error.expected
                    continue
                }
                resyncs = 0
                waiting.removeFirst(max(consumed, 1))
                if consumed == 0, let at = chunk.first, results[at] == nil {
                    results[at] = outcomes.first
                }
            }
        }
        return results.map { $0! }
    }

    /// Sends one stamped batch until its outcome is known: a timeout or unreachable leader repeats it unchanged;
    /// an expired session starts the next epoch and re-stamps from 0.
    private func sendStamped(
        _ requests: [SendRequest],
        to queue: QueueDescription,
        partition: UInt32
    ) throws(FerryClientError) -> [Result<SendOutcome, WireError>] {
        var requests = requests
        let end = FerryClient.nowMs() + client.options.retryDeadlineMs
        while true {
            let request = ClientRequest.send(queue: queue.name, partition: partition, requests: requests)
            do {
                let response = try client.callPartition(queue, partition, request)
                if case .error(let error) = response, error.code == .timeout, FerryClient.nowMs() < end {
                    usleep(20_000)
                    continue
                }
                let outcomes = try FerryClient.expect(response) { if case .sent(let r) = $0 { r } else { nil } }
                if case .failure(let error)? = outcomes.first, error.code == .unknownProducer {
                    try restart()
                    requests = requests.enumerated().map { offset, request in
                        var restamped = request
                        restamped.producer = ProducerStamp(
                            producerID: producerID,
                            epoch: epoch,
                            sequence: UInt64(offset)
                        )
                        return restamped
                    }
                    next = [:]
                    continue
                }
                return outcomes
            } catch .timeout(let detail) {
                guard FerryClient.nowMs() < end else { throw .timeout(detail) }
            }
        }
    }

    /// The session expired on a partition: take the next epoch (fencing any older instance).
    private func restart() throws(FerryClientError) {
        let response = try client.call(.initProducer(producerID: producerID), first: nil)
        (producerID, epoch) = try FerryClient.expect(response) {
            if case .producer(let id, let e) = $0 { (id, e) } else { nil }
        }
    }
}
