import NIOCore

/// A producer session's stamp on a send (Kafka's idempotent producer): the leader accepts `sequence == last + 1`
/// per (producer, partition), answers a repeat with its first result and refuses a gap.
public struct ProducerStamp: Sendable, Hashable {
    public var producerID: UInt64
    public var epoch: UInt32
    public var sequence: UInt64

    public init(producerID: UInt64, epoch: UInt32, sequence: UInt64) {
        self.producerID = producerID
        self.epoch = epoch
        self.sequence = sequence
    }
}

/// One message to enqueue.
public struct SendRequest: Sendable, Hashable {
    public var body: ByteBuffer
    /// Required on FIFO queues.
    public var groupID: String?
    /// Explicit, or the SHA-256 of the body computed by the node before proposing (content-based dedup).
    public var deduplicationID: String?
    /// Standard queues only; nil takes the queue's delay.
    public var delaySeconds: Int?
    public var producer: ProducerStamp?

    public init(
        body: ByteBuffer,
        groupID: String? = nil,
        deduplicationID: String? = nil,
        delaySeconds: Int? = nil,
        producer: ProducerStamp? = nil
    ) {
        self.body = body
        self.groupID = groupID
        self.deduplicationID = deduplicationID
        self.delaySeconds = delaySeconds
        self.producer = producer
    }
}

/// A delivery's proof: the message and the fencing token of that delivery. A handle from an earlier delivery
/// carries an older token and is refused once the message was delivered again.
public struct ReceiptHandle: Sendable, Hashable {
    public var position: MessagePosition
    public var fencingToken: UInt64

    public init(position: MessagePosition, fencingToken: UInt64) {
        self.position = position
        self.fencingToken = fencingToken
    }
}

public struct ReceiveRequest: Sendable, Hashable {
    public var maxMessages: Int
    /// nil takes the queue's visibility timeout.
    public var visibilityTimeoutSeconds: Int?
    /// SQS `ReceiveRequestAttemptId`: a retry with the same id within 5 minutes gets the same batch.
    public var requestAttemptID: String?

    public init(maxMessages: Int, visibilityTimeoutSeconds: Int? = nil, requestAttemptID: String? = nil) {
        self.maxMessages = maxMessages
        self.visibilityTimeoutSeconds = visibilityTimeoutSeconds
        self.requestAttemptID = requestAttemptID
    }
}

public struct VisibilityChange: Sendable, Hashable {
    public var handle: ReceiptHandle
    public var visibilityTimeoutSeconds: Int

    public init(handle: ReceiptHandle, visibilityTimeoutSeconds: Int) {
        self.handle = handle
        self.visibilityTimeoutSeconds = visibilityTimeoutSeconds
    }
}

/// Every state change of a queue partition is one of these, in a Raft entry (DESIGN §9: receives, deletes and
/// visibility changes are entries too, so a new leader knows exactly what is in flight).
public enum QueueCommand: Sendable, Hashable {
    case send([SendRequest])
    case receive(ReceiveRequest)
    case delete([ReceiptHandle])
    case changeVisibility([VisibilityChange])
    case purge
    /// No change but the time: the leader proposes it when a deadline it knows of has passed.
    case advanceTime
}

/// A command with the leader's timestamp: the payload of a queue partition's Raft entry.
///
/// Encoding (big-endian): `version u8 (1) | timestampMs i64 | kind u8 | body`. Kinds: 1 send, 2 receive,
/// 3 delete, 4 change visibility, 5 purge, 6 advance time; append-only. Strings are `u16 length | UTF-8`,
/// optional fields are preceded by a presence byte, bodies are `u32 length | bytes`.
public struct QueueEntry: Sendable, Hashable {
    public static let version: UInt8 = 1

    public var timestampMs: Int64
    public var command: QueueCommand

    public init(timestampMs: Int64, command: QueueCommand) {
        self.timestampMs = timestampMs
        self.command = command
    }
}
