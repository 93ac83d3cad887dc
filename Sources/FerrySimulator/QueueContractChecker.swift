import FerryModel
import FerryQueue
import FerryRaft
import NIOCore

/// The queue contract (DESIGN §1), checked on the committed results of a simulated partition in log order:
/// every replica applies the same entries, so the first replica to apply an index speaks for all (the others
/// are compared with it result by result).
///
/// - no duplicate enqueue of one deduplication id inside the window;
/// - producer-session sends enqueued in sequence order, never from a fenced epoch;
/// - group order: a message is handed out only when every earlier live message of its group is handed out in
///   the same batch;
/// - at most one delivery of a group in flight: no delivery while another of the group is in flight;
/// - no delivery after a successful delete (or after the message left otherwise), and only the latest
///   delivery's handle deletes;
/// - fencing tokens of a group increase with every delivery;
/// - dead letters: recorded here, checked exactly once in the dead-letter queue at the end.
struct QueueContractChecker {
    let dedupWindowMs: Int64

    enum Gone: Hashable {
        case deleted
        case deadLettered
        case purged
    }

    struct Message {
        var group: String
        var stamp: ProducerStamp?
    }

    private(set) var messages: [UInt64: Message] = [:]
    /// Live messages of each group, in sequence order.
    private var live: [String: [UInt64]] = [:]
    private(set) var gone: [UInt64: Gone] = [:]
    private var latestToken: [UInt64: UInt64] = [:]
    /// Group → in-flight message → when it becomes visible again.
    private var inFlight: [String: [UInt64: Int64]] = [:]
    private var lastTokenOfGroup: [String: UInt64] = [:]
    private var dedupLatest: [String: (sequence: UInt64, atMs: Int64)] = [:]
    private var sessionLast: [UInt64: (epoch: UInt32, sequence: UInt64)] = [:]
    private(set) var deadLettered: [MessagePosition] = []
    private(set) var observedIndex: LogIndex = 0
    /// How often each contract path was exercised (the queue's coverage probes).
    private(set) var coverage: [QueueProbe: Int] = [:]

    init(dedupWindowMs: Int64) {
        self.dedupWindowMs = dedupWindowMs
    }

    func violation(_ detail: String) -> InvariantViolation {
        InvariantViolation(invariant: "queueContract", detail: detail)
    }

    mutating func probe(_ name: QueueProbe) {
        coverage[name, default: 0] += 1
    }

    /// One committed entry and its result, in log order.
    mutating func observe(
        index: LogIndex,
        payload: ByteBuffer,
        result: QueueResult,
        nowMs: Int64
    ) throws(InvariantViolation) {
        observedIndex = index
        guard let entry = try? QueueEntry.decode(payload) else {
            throw violation("entry \(index) committed but does not decode")
        }
        switch (entry.command, result) {
        case (.send(let requests), .sent(let results)):
            for (request, outcome) in zip(requests, results) {
                try observeSend(request, outcome, nowMs: nowMs)
            }
        case (.receive, .received(let outcomes)):
            for case .success(let outcome) in outcomes {
                try observeReceive(outcome, nowMs: nowMs)
            }
        case (.delete(let handles), .deleted(let results)):
            for (handle, outcome) in zip(handles, results) {
                try observeDelete(handle, outcome, nowMs: nowMs)
            }
        case (.changeVisibility(let changes), .visibilityChanged(let results)):
            for (change, outcome) in zip(changes, results) {
                guard case .success(let until) = outcome else { continue }
                let sequence = change.handle.position.sequenceNumber
                guard gone[sequence] == nil, latestToken[sequence] == change.handle.fencingToken,
                    let group = messages[sequence]?.group
                else { throw violation("visibility of \(sequence) changed with a stale or unknown handle") }
                inFlight[group, default: [:]][sequence] = until
            }
        case (.purge, .purged):
            for sequence in live.values.joined() { gone[sequence] = .purged }
            live = [:]
            inFlight = [:]
            probe(.purged)
        case (_, .rejected(let error)):
            throw violation("entry \(index) refused: \(error)")
        default:
            break
        }
    }

    private mutating func observeSend(
        _ request: SendRequest,
        _ outcome: Result<SendOutcome, QueueError>,
        nowMs: Int64
    ) throws(InvariantViolation) {
        let key = request.deduplicationID ?? ""
        switch outcome {
        case .success(.enqueued(let position)):
            let sequence = position.sequenceNumber
            guard messages[sequence] == nil, let group = request.groupID else {
                throw violation("position \(position) enqueued twice or without group")
            }
            if let previous = dedupLatest[key], nowMs - previous.atMs < dedupWindowMs {
                throw violation(
                    "dedup id \(key) enqueued at \(previous.sequence) and again at \(sequence) \(nowMs - previous.atMs) ms later"
                )
            }
            if dedupLatest[key] != nil { probe(.enqueuedAgainAfterWindow) }
            dedupLatest[key] = (sequence, nowMs)
            if let stamp = request.producer {
                if let last = sessionLast[stamp.producerID] {
                    let inOrder =
                        stamp.epoch > last.epoch || (stamp.epoch == last.epoch && stamp.sequence > last.sequence)
                    guard inOrder else {
                        throw violation("producer send \(stamp) enqueued after \(last)")
                    }
                }
                sessionLast[stamp.producerID] = (stamp.epoch, stamp.sequence)
            }
            messages[sequence] = Message(group: group, stamp: request.producer)
            live[group, default: []].append(sequence)
        case .success(.duplicate(let position)):
            let sequence = position.sequenceNumber
            guard let first = messages[sequence] else { throw violation("duplicate answered with unknown \(position)") }
            let sameDedup = dedupLatest[key].map { $0.sequence == sequence && nowMs - $0.atMs < dedupWindowMs } ?? false
            let sameStamp =
                request.producer.map { first.stamp?.sequence == $0.sequence && first.stamp?.epoch == $0.epoch } ?? false
            guard sameDedup || sameStamp else {
                throw violation("duplicate of \(key) answered with \(position), not the first send inside the window")
            }
            probe(request.producer == nil ? .dedupHit : .producerDuplicate)
        case .success(.duplicateResultForgotten):
            guard request.producer != nil else { throw violation("forgotten result for a send without session") }
        case .failure(.outOfOrderSequence):
            probe(.outOfOrderRefused)
        case .failure(.producerFenced):
            probe(.fencedRefused)
        case .failure(.unknownProducer) where request.producer != nil:
            // A pipelined session's first send was lost and a later one arrived first.
            probe(.outOfOrderRefused)
        case .failure(let error):
            throw violation("send refused: \(error)")
        }
    }

    private mutating func observeReceive(_ outcome: ReceiveOutcome, nowMs: Int64) throws(InvariantViolation) {
        for position in outcome.deadLettered {
            let sequence = position.sequenceNumber
            guard gone[sequence] == nil, let group = messages[sequence]?.group else {
                throw violation("dead-lettered \(position) was not live")
            }
            remove(sequence, group: group, as: .deadLettered)
            deadLettered.append(position)
            probe(.deadLettered)
        }
        if outcome.repeatedAttempt {
            probe(.attemptRepeated)
            for delivery in outcome.deliveries {
                let sequence = delivery.position.sequenceNumber
                guard gone[sequence] == nil, latestToken[sequence] == delivery.fencingToken,
                    let group = messages[sequence]?.group
                else { throw violation("repeated attempt returned \(delivery.position) with a new or dead delivery") }
                inFlight[group, default: [:]][sequence] = delivery.visibleAgainAtMs
            }
            return
        }
        var batch: Set<UInt64> = []
        for delivery in outcome.deliveries {
            let sequence = delivery.position.sequenceNumber
            guard let group = messages[sequence]?.group else {
                throw violation("delivered unknown \(delivery.position)")
            }
            if let reason = gone[sequence] { throw violation("delivered \(delivery.position) after it was \(reason)") }
            guard delivery.groupID == group else { throw violation("delivery of \(sequence) names another group") }
            guard delivery.fencingToken > lastTokenOfGroup[group, default: 0] else {
                throw violation("fencing token \(delivery.fencingToken) of group \(group) did not increase")
            }
            for (other, until) in inFlight[group, default: [:]] where !batch.contains(other) && until > nowMs {
                throw violation(
                    "delivered \(sequence) of \(group) while \(other) is in flight until \(until) (now \(nowMs))"
                )
            }
            for earlier in live[group, default: []] {
                if earlier >= sequence { break }
                guard batch.contains(earlier) else {
                    throw violation("delivered \(sequence) of \(group) before the earlier live \(earlier)")
                }
            }
            if latestToken[sequence] != nil { probe(.redelivered) }
            if batch.contains(where: { messages[$0]?.group == group }) { probe(.severalOfOneGroup) }
            batch.insert(sequence)
            latestToken[sequence] = delivery.fencingToken
            lastTokenOfGroup[group] = delivery.fencingToken
            inFlight[group, default: [:]] = inFlight[group, default: [:]].filter { batch.contains($0.key) }
            inFlight[group]![sequence] = delivery.visibleAgainAtMs
        }
    }

    /// Whether the delivery of `sequence` is in flight at `nowMs` (its visibility has not ended).
    private func inFlight(_ sequence: UInt64, nowMs: Int64) -> Bool {
        guard let group = messages[sequence]?.group, let until = inFlight[group]?[sequence] else { return false }
        return until > nowMs
    }

    /// A delete (of a FIFO queue, as the simulated one is) succeeds only with the latest handle while its
    /// delivery is in flight; a handle that is older, or whose visibility ended, is refused as stale.
    private mutating func observeDelete(
        _ handle: ReceiptHandle,
        _ outcome: Result<DeleteOutcome, QueueError>,
        nowMs: Int64
    ) throws(InvariantViolation) {
        let sequence = handle.position.sequenceNumber
        switch outcome {
        case .success(.deleted):
            guard gone[sequence] == nil, latestToken[sequence] == handle.fencingToken,
                let group = messages[sequence]?.group
            else { throw violation("\(sequence) deleted with a stale or unknown handle") }
            guard inFlight(sequence, nowMs: nowMs) else {
                throw violation("\(sequence) deleted with a handle whose visibility had ended")
            }
            remove(sequence, group: group, as: .deleted)
            probe(.deleted)
        case .success(.alreadyGone):
            guard gone[sequence] != nil else { throw violation("delete of live \(sequence) answered already gone") }
        case .failure(.staleReceiptHandle):
            guard let latest = latestToken[sequence], latest >= handle.fencingToken else {
                throw violation("delete of \(sequence) refused as stale with a handle never handed out")
            }
            if latest == handle.fencingToken {
                guard !inFlight(sequence, nowMs: nowMs) else {
                    throw violation("delete of \(sequence) refused as stale but its delivery is in flight")
                }
                probe(.expiredHandleRefused)
            } else {
                probe(.staleHandleRefused)
            }
        case .failure(let error):
            throw violation("delete of \(sequence) refused: \(error)")
        }
    }

    private mutating func remove(_ sequence: UInt64, group: String, as reason: Gone) {
        gone[sequence] = reason
        live[group]?.removeAll { $0 == sequence }
        inFlight[group]?[sequence] = nil
    }
}

/// Paths of the queue contract a simulated run should reach (the queue's coverage probes).
public enum QueueProbe: String, CaseIterable, Sendable, Hashable, Comparable {
    case dedupHit
    case enqueuedAgainAfterWindow
    case producerDuplicate
    case outOfOrderRefused
    case redelivered
    case severalOfOneGroup
    case staleHandleRefused
    /// A FIFO delete with the latest handle after its visibility ended (SQS: the handle expired).
    case expiredHandleRefused
    case deleted
    case deadLettered
    case moveRepeated
    case attemptRepeated
    case purged
    case fencedRefused

    public static func < (a: QueueProbe, b: QueueProbe) -> Bool { a.rawValue < b.rawValue }
}
