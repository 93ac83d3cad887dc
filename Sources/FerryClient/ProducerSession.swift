import FerryModel
import FerryWire
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A producer session (Kafka's idempotent producer, DESIGN §1): a cluster-wide producer id and epoch, and a
/// sequence per partition. Every send is stamped; sends are pipelined (up to `window` batches per partition in
/// flight on the leader's connection) and a batch whose outcome is unknown (leader change, timeout, broken
/// connection) is sent again with the same stamps, together with every later batch of its partition, in order.
/// The partition accepts only the next sequence and answers a repeat with its first result, so nothing is
/// enqueued twice or out of order, across any number of failovers.
public final class ProducerSession: @unchecked Sendable {
    public let client: FerryClient
    public let queue: String
    public private(set) var producerID: UInt64
    public private(set) var epoch: UInt32
    /// Batches in flight per partition, and messages per batch (the partition remembers the results of the last
    /// 128 sequences, so window × batch stays below that: a repeat always finds its first answer).
    public let window: Int
    public let batchSize: Int
    /// The next sequence per partition.
    private var next: [UInt32: UInt64] = [:]
    /// Messages left with an unknown outcome by the last call, per partition, in stamp order: the next call must
    /// start with exactly these (they get the same stamps), or the session takes a new epoch first, so that a
    /// late copy of an old stamp can never be taken for a new message.
    private var unanswered: [UInt32: [SendRequest]] = [:]

    /// Starts a session: a new producer id, epoch 0.
    /// - Parameters:
    ///   - window: batches in flight per partition, 1–12 (1: one batch at a time).
    ///   - batchSize: messages per batch, 1–10.
    public init(client: FerryClient, queue: String, window: Int = 8, batchSize: Int = 10) throws(FerryClientError) {
        self.client = client
        self.queue = queue
        self.window = min(12, max(1, window))
        self.batchSize = min(QueueLimits.maxBatchEntries, max(1, batchSize))
        let response = try client.call(.initProducer(producerID: nil))
        (producerID, epoch) = try FerryClient.expect(response) {
            if case .producer(let id, let e) = $0 { (id, e) } else { nil }
        }
    }

    /// Sends messages (their `producer` stamps are set here), each to its group's partition, in order within a
    /// partition, pipelined. Returns each message's outcome in the order given: a message still unanswered at
    /// the retry deadline gets `.failure(timeout)` (outcome unknown; send it again, before any new message, to
    /// repeat its stamp). Throws `.server` for a refusal of the whole request (no such queue).
    public func send(_ messages: [SendRequest]) throws(FerryClientError) -> [Result<SendOutcome, WireError>] {
        let description = try client.queue(queue)
        var waiting: [UInt32: ArraySlice<Int>] = [:]
        for (at, message) in messages.enumerated() {
            let partition =
                message.groupID.map { PartitionHash.partition(forGroup: $0, partitions: description.partitions) }
                ?? UInt32(at % Int(description.partitions))
            waiting[partition, default: []].append(at)
        }
        let resumes = unanswered.allSatisfy { partition, old in
            let new = (waiting[partition] ?? []).prefix(old.count).map { messages[$0] }
            return new.count == old.count
                && zip(new, old).allSatisfy {
                    $0.body == $1.body && $0.groupID == $1.groupID && $0.deduplicationID == $1.deduplicationID
                }
        }
        if !resumes {
            try restart()
            next = [:]
        }
        unanswered = [:]
        var results = [Result<SendOutcome, WireError>?](repeating: nil, count: messages.count)
        let end = FerryClient.nowMs() + client.options.retryDeadlineMs
        var attempt = 0
        var resyncs = 0
        while !waiting.isEmpty {
            guard FerryClient.nowMs() < end else {
                // The answered ones keep their results; the others are unknown. Their sequences were not used up
                // here, so sending exactly these again (first, in the same order) repeats the same stamps.
                let unknown = WireError(.timeout, "no answer before the retry deadline; the outcome is unknown")
                for (partition, left) in waiting { unanswered[partition] = left.map { messages[$0] } }
                for at in results.indices where results[at] == nil { results[at] = .failure(unknown) }
                return results.map { $0! }
            }
            // Every partition's first window of batches, stamped from its next sequence: a batch sent again
            // carries exactly the stamps it carried before.
            var flights: [Flight] = []
            for partition in waiting.keys.sorted() {
                let route = client.route(description, partition, attempt: attempt)
                guard let connection = try? client.connection(route.node.0, route.node.1) else {
                    if let group = route.groupID { client.noteLeader(group: group, node: 0) }
                    continue
                }
                let pending = waiting[partition]!
                let first = next[partition, default: 0]
                var batches: [(ArraySlice<Int>, EventLoopFuture<ClientResponse>)] = []
                var start = pending.startIndex
                while start < pending.endIndex && batches.count < window {
                    let chunk = pending[start..<min(pending.endIndex, start + batchSize)]
                    let stamped = chunk.indices.map { index in
                        var request = messages[pending[index]]
                        request.producer = ProducerStamp(
                            producerID: producerID,
                            epoch: epoch,
                            sequence: first + UInt64(index - pending.startIndex)
                        )
                        return request
                    }
                    let request = ClientRequest.send(queue: queue, partition: partition, requests: stamped)
                    batches.append((chunk, connection.start(request, timeoutMs: client.options.requestTimeoutMs)))
                    start = chunk.endIndex
                }
                flights.append((partition, route.groupID, batches))
            }
            var progressed = false
            var expired = false
            for flight in flights {
                var stopped = false
                for batch in flight.batches {
                    let answer = Result { try batch.answer.wait() }
                    if stopped { continue }  // drained; sent again next round with the same stamps
                    var response: ClientResponse
                    switch answer {
                    case .failure:
                        if let group = flight.group { client.noteLeader(group: group, node: 0) }
                        stopped = true
                        continue
                    case .success(let answered):
                        response = answered
                    }
                    if case .error(let error) = response {
                        guard error.code.isRetriable || error.code == .timeout else { throw .server(error) }
                        if let group = flight.group, error.code == .notLeader {
                            client.noteLeader(group: group, node: error.leaderHint)
                        }
                        stopped = true
                        continue
                    }
                    let outcomes = try FerryClient.expect(response) { if case .sent(let r) = $0 { r } else { nil } }
                    for (at, outcome) in zip(batch.indexes, outcomes) {
                        switch outcome {
                        case .success:
                            break
                        case .failure(let error) where error.code == .unknownProducer:
                            expired = true
                        case .failure(let error) where error.code == .outOfOrderSequence && resyncs < 3:
                            // The partition expects another sequence (an answer to an earlier call was lost):
                            // resume there.
                            resyncs += 1
                            next[flight.partition] = error.expected
                        case .failure:
                            // A refusal of this message (too large, say) uses no sequence: the ones behind it were
                            // refused as a gap and go again from the same sequence.
                            results[at] = outcome
                            waiting[flight.partition]!.removeFirst()
                            progressed = true
                        }
                        if case .failure = outcome {
                            stopped = true
                            break
                        }
                        results[at] = outcome
                        waiting[flight.partition]!.removeFirst()
                        next[flight.partition, default: 0] += 1
                        progressed = true
                    }
                }
                if waiting[flight.partition]?.isEmpty == true { waiting[flight.partition] = nil }
            }
            if expired {
                try restart()
                next = [:]
            }
            if progressed {
                attempt = 0
                resyncs = 0
            } else {
                attempt += 1
                usleep(UInt32(min(100_000, 5_000 * attempt)))
            }
        }
        return results.map { $0! }
    }

    private typealias Flight = (
        partition: UInt32, group: UInt64?,
        batches: [(indexes: ArraySlice<Int>, answer: EventLoopFuture<ClientResponse>)]
    )

    /// The session expired on a partition: take the next epoch (fencing any older instance).
    private func restart() throws(FerryClientError) {
        let response = try client.call(.initProducer(producerID: producerID))
        (producerID, epoch) = try FerryClient.expect(response) {
            if case .producer(let id, let e) = $0 { (id, e) } else { nil }
        }
    }
}
