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

/// Where a moved message (dead letter, redrive) came from: the source's key for exactly-once moves.
public struct MoveOrigin: Sendable, Hashable {
    /// The source queue's catalog id and name (a redrive to "the source" goes back there).
    public var sourceQueueID: UInt64
    public var sourceQueue: String
    /// The message's position in the source queue.
    public var position: MessagePosition
    /// How often the message has been moved between queues, this move included.
    public var moveCount: UInt16
    /// Receives the message had in the source queue.
    public var receiveCount: UInt32

    public init(
        sourceQueueID: UInt64,
        sourceQueue: String,
        position: MessagePosition,
        moveCount: UInt16,
        receiveCount: UInt32
    ) {
        self.sourceQueueID = sourceQueueID
        self.sourceQueue = sourceQueue
        self.position = position
        self.moveCount = moveCount
        self.receiveCount = receiveCount
    }
}

/// One message to enqueue.
public struct SendRequest: Sendable, Hashable {
    public var body: ByteBuffer
    /// The message's attributes in the form of the layer that set them (the SQS layer's encoding), opaque here;
    /// they count toward the message size.
    public var messageAttributes: ByteBuffer
    /// Required on FIFO queues.
    public var groupID: String?
    /// Explicit, or the SHA-256 of the body computed by the node before proposing (content-based dedup).
    public var deduplicationID: String?
    /// Standard queues only; nil takes the queue's delay.
    public var delaySeconds: Int?
    public var producer: ProducerStamp?
    /// Set on moves between queues; such sends are deduplicated by origin, not by the dedup window.
    public var origin: MoveOrigin?

    public init(
        body: ByteBuffer,
        messageAttributes: ByteBuffer = ByteBuffer(),
        groupID: String? = nil,
        deduplicationID: String? = nil,
        delaySeconds: Int? = nil,
        producer: ProducerStamp? = nil,
        origin: MoveOrigin? = nil
    ) {
        self.body = body
        self.messageAttributes = messageAttributes
        self.groupID = groupID
        self.deduplicationID = deduplicationID
        self.delaySeconds = delaySeconds
        self.producer = producer
        self.origin = origin
    }

    /// The bytes that count toward the message size limit.
    public var sizeBytes: Int { body.readableBytes + messageAttributes.readableBytes }
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

/// Starts a redrive: dead letters move, oldest first, to `destination` (nil: each back to its source queue).
public struct MoveTaskRequest: Sendable, Hashable {
    public var taskID: String
    public var destination: String?
    public var maxMessagesPerSecond: Int

    public init(
        taskID: String,
        destination: String? = nil,
        maxMessagesPerSecond: Int = QueueLimits.defaultMoveRatePerSecond
    ) {
        self.taskID = taskID
        self.destination = destination
        self.maxMessagesPerSecond = maxMessagesPerSecond
    }
}
