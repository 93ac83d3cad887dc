import FerryModel
import NIOCore

/// The queue contract from the clients' side (DESIGN §1), over a whole simulated run:
/// - nothing acknowledged is lost: every acknowledged message is delivered;
/// - a deduplication id is enqueued once: all its acknowledgements and deliveries name one position;
/// - a send refused as definitive (`queueNotFound`) was not enqueued: it is never delivered;
/// - group order: each group's messages are first delivered in the order they were sent;
/// - nothing is delivered after a delete of it succeeded, and nothing is delivered that was never sent;
/// - dead letters exactly once: a message reaches the dead-letter queue at one position at most, and the
///   source queue never delivers it after that.
struct NodeSimChecker {
    var violations: [String] = []
    /// Deduplication id → group and its place in the group's sends.
    private var sent: [String: (group: String, sequence: Int)] = [:]
    private var acknowledgedAt: [String: MessagePosition] = [:]
    private var failed: Set<String> = []
    private var deliveredAt: [String: MessagePosition] = [:]
    /// Per group, the sequences in the order of their first delivery.
    private var firstDeliveries: [String: [Int]] = [:]
    private var deletedPositions: Set<MessagePosition> = []
    private var deadLetteredAt: [String: MessagePosition] = [:]
    private var deletedDeadLetters: Set<MessagePosition> = []
    private(set) var digest: UInt64 = 0xcbf2_9ce4_8422_2325

    var acknowledgedCount: Int { acknowledgedAt.count }
    var deliveredCount: Int { deliveredAt.count }

    private mutating func fold(_ values: UInt64...) {
        for value in values { digest = (digest ^ value) &* 0x100_0000_01b3 }
    }

    mutating func sending(_ name: String, group: String, sequence: Int) {
        sent[name] = (group, sequence)
    }

    mutating func failed(_ name: String) {
        failed.insert(name)
        fold(1)
    }

    mutating func acknowledged(_ name: String, at position: MessagePosition, nowMs: Int64) {
        fold(2, UInt64(nowMs), UInt64(position.partition), position.index, UInt64(position.slot))
        if let first = acknowledgedAt[name], first != position {
            violations.append("\(name) acknowledged at \(first) and at \(position): enqueued twice")
        }
        acknowledgedAt[name] = acknowledgedAt[name] ?? position
        if let delivered = deliveredAt[name], delivered != position {
            violations.append("\(name) acknowledged at \(position) but delivered from \(delivered)")
        }
    }

    mutating func delivered(_ delivery: Delivery, nowMs: Int64) {
        let position = delivery.position
        fold(3, UInt64(nowMs), UInt64(position.partition), position.index, UInt64(position.slot))
        let name = String(buffer: delivery.body)
        guard let origin = sent[name], delivery.deduplicationID == name, delivery.groupID == origin.group else {
            violations.append("a message never sent was delivered: \(name) at \(position)")
            return
        }
        if deadLetteredAt[name] != nil {
            violations.append("\(name) delivered from the source queue after it was dead-lettered")
        }
        if deletedPositions.contains(position) {
            violations.append("\(name) delivered at \(nowMs) ms after a delete of it succeeded")
        }
        if let first = deliveredAt[name] {
            if first != position { violations.append("\(name) delivered from \(first) and from \(position)") }
            return
        }
        if let acknowledged = acknowledgedAt[name], acknowledged != position {
            violations.append("\(name) acknowledged at \(acknowledged) but delivered from \(position)")
        }
        deliveredAt[name] = position
        if let last = firstDeliveries[origin.group]?.last, last > origin.sequence {
            violations.append(
                "group \(origin.group): \(name) first delivered after \(origin.group)-\(last) (sent later)"
            )
        }
        firstDeliveries[origin.group, default: []].append(origin.sequence)
    }

    mutating func deleted(_ position: MessagePosition) {
        deletedPositions.insert(position)
    }

    /// A delivery from the dead-letter queue.
    mutating func deadLettered(_ delivery: Delivery) {
        let position = delivery.position
        fold(4, UInt64(position.partition), position.index, UInt64(position.slot))
        let name = String(buffer: delivery.body)
        guard sent[name] != nil else {
            violations.append("the dead-letter queue delivered a message never sent: \(name)")
            return
        }
        if let first = deadLetteredAt[name], first != position {
            violations.append("\(name) dead-lettered twice: at \(first) and at \(position)")
        }
        if deletedDeadLetters.contains(position) {
            violations.append("\(name) delivered from the dead-letter queue after a delete of it succeeded")
        }
        deadLetteredAt[name] = deadLetteredAt[name] ?? position
    }

    mutating func deletedDeadLetter(_ position: MessagePosition) {
        deletedDeadLetters.insert(position)
    }

    var deadLetterCount: Int { deadLetteredAt.count }

    /// At the end of the run, after the faults healed and the consumers drained the queue.
    mutating func finish(acknowledgedBy clients: [NodeSimClient]) {
        for name in acknowledgedAt.keys.sorted() where deliveredAt[name] == nil && deadLetteredAt[name] == nil {
            violations.append("\(name) was acknowledged and never delivered: lost")
        }
        for name in failed.sorted()
        where deliveredAt[name] != nil || acknowledgedAt[name] != nil || deadLetteredAt[name] != nil {
            violations.append("\(name) was refused as not enqueued (queueNotFound), yet it was enqueued")
        }
    }
}
