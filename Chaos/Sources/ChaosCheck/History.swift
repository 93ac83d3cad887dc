/// One line of a chaos run's history (JSON lines, `history.jsonl`): an operation's invocation and completion,
/// or a fault's start and end. Pure data: the harness writes it, the checker reads it.
///
/// `type`: `invoke` when a process starts an operation; then `ok` (it took effect, with its result), `fail` (it
/// definitely did not take effect) or `info` (unknown: a timeout or a broken connection). Operations are linked
/// by `(process, op)`. Times are milliseconds since the run started.
public struct HistoryEvent: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        case invoke, ok, fail, info
    }

    public var t: Int64
    public var process: String
    public var type: Kind
    /// `send`, `receive`, `delete`, `fault`.
    public var f: String
    public var op: UInt64
    public var queue: String?
    public var group: String?
    /// The logical message: unique per send intent; a retry of the same intent carries the same body.
    public var body: String?
    public var dedup: String?
    /// Producer-session sends: the producer's own order of the message (checked against sequence numbers).
    public var sessionIndex: Int?
    /// A send's result (`ok`): where the queue put the message.
    public var position: Position?
    public var deliveries: [DeliveryRecord]?
    /// A delete's target.
    public var handleOf: Position?
    /// Faults: kind (`kill`, `pause`, `partition`, …) and what it hit.
    public var fault: String?
    public var target: String?
    public var error: String?

    public init(t: Int64, process: String, type: Kind, f: String, op: UInt64) {
        self.t = t
        self.process = process
        self.type = type
        self.f = f
        self.op = op
    }
}

/// A message's place in its queue: partition and sequence number (increasing in enqueue order per partition).
public struct Position: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var partition: UInt32
    public var sequence: UInt64

    public init(partition: UInt32, sequence: UInt64) {
        self.partition = partition
        self.sequence = sequence
    }

    public static func < (a: Position, b: Position) -> Bool {
        (a.partition, a.sequence) < (b.partition, b.sequence)
    }

    public var description: String { "\(partition):\(sequence)" }
}

/// One message of a receive's answer.
public struct DeliveryRecord: Codable, Sendable, Hashable {
    public var position: Position
    public var body: String
    public var group: String?
    public var receiveCount: UInt32
    /// Set on a dead-letter queue's messages: the source queue and the message's position there.
    public var originQueue: String?
    public var originPosition: Position?

    public init(
        position: Position,
        body: String,
        group: String?,
        receiveCount: UInt32,
        originQueue: String? = nil,
        originPosition: Position? = nil
    ) {
        self.position = position
        self.body = body
        self.group = group
        self.receiveCount = receiveCount
        self.originQueue = originQueue
        self.originPosition = originPosition
    }
}

/// What the checker needs to know of the run besides the history.
public struct CheckModel: Sendable {
    /// The deduplication window of the queues, and the slack allowed around it (clocks, retries in flight).
    public var dedupWindowMs: Int64
    public var windowSlackMs: Int64 = 1_000
    /// Source queue → its dead-letter queue.
    public var deadLetterQueues: [String: String] = [:]
    /// The longest a fault of each kind may keep sends from being acknowledged (kind → ms); others: `default`.
    public var unavailabilityBoundMs: [String: Int64] = [:]
    public var defaultUnavailabilityBoundMs: Int64 = 10_000
    /// Per (queue, partition, node): the replica's applied index and state digest at the end of the run.
    public var replicas: [ReplicaDigest] = []
    /// Group → the nodes that hold a replica of it. Each must have answered with a digest: a replica that cannot
    /// (its node died on its own, or is stuck) cannot be shown to agree.
    public var replicaSets: [UInt64: [UInt64]] = [:]

    public init(dedupWindowMs: Int64) {
        self.dedupWindowMs = dedupWindowMs
    }
}

public struct ReplicaDigest: Sendable, Hashable, Codable {
    public var group: UInt64
    public var node: UInt64
    public var applied: UInt64
    public var digest: UInt64

    public init(group: UInt64, node: UInt64, applied: UInt64, digest: UInt64) {
        self.group = group
        self.node = node
        self.applied = applied
        self.digest = digest
    }
}
