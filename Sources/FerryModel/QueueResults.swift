import NIOCore

/// What a send produced.
public enum SendOutcome: Sendable, Hashable {
    /// Enqueued at this position (message id and sequence number derive from it).
    case enqueued(MessagePosition)
    /// A repeat (same deduplication id inside the window, same producer sequence, or a move already taken in):
    /// the first send's position; nothing was enqueued.
    case duplicate(MessagePosition)
    /// A repeat of a producer-session send too old for its result to be remembered: it was accepted once.
    case duplicateResultForgotten

    /// The position the producer should report, when known.
    public var position: MessagePosition? {
        switch self {
        case .enqueued(let position), .duplicate(let position): return position
        case .duplicateResultForgotten: return nil
        }
    }
}

/// One message handed out by a receive.
public struct Delivery: Sendable, Hashable {
    public var position: MessagePosition
    /// The handle that deletes or changes this delivery; its fencing token increases with every delivery of
    /// the partition, so also with every delivery of the message's group.
    public var handle: ReceiptHandle
    public var body: ByteBuffer
    public var messageAttributes: ByteBuffer
    public var groupID: String?
    public var deduplicationID: String?
    public var sentAtMs: Int64
    /// Receives of this message so far, this one included (SQS `ApproximateReceiveCount`).
    public var receiveCount: UInt32
    public var firstReceiveAtMs: Int64
    /// When the message becomes visible again unless deleted or changed.
    public var visibleAgainAtMs: Int64
    public var origin: MoveOrigin?
    /// When the message last became receivable before this delivery (its send, the end of its delay, or the
    /// end of an earlier delivery): the key that orders FIFO groups, also across partitions.
    public var availableAtMs: Int64

    public var fencingToken: UInt64 { handle.fencingToken }

    public init(
        handle: ReceiptHandle,
        body: ByteBuffer,
        messageAttributes: ByteBuffer,
        groupID: String?,
        deduplicationID: String?,
        sentAtMs: Int64,
        receiveCount: UInt32,
        firstReceiveAtMs: Int64,
        visibleAgainAtMs: Int64,
        origin: MoveOrigin?,
        availableAtMs: Int64 = 0
    ) {
        self.position = handle.position
        self.handle = handle
        self.body = body
        self.messageAttributes = messageAttributes
        self.groupID = groupID
        self.deduplicationID = deduplicationID
        self.sentAtMs = sentAtMs
        self.receiveCount = receiveCount
        self.firstReceiveAtMs = firstReceiveAtMs
        self.visibleAgainAtMs = visibleAgainAtMs
        self.origin = origin
        self.availableAtMs = availableAtMs
    }
}

/// What one receive request produced.
public struct ReceiveOutcome: Sendable, Hashable {
    public var deliveries: [Delivery]
    /// Messages this receive found past their maxReceiveCount and moved to the outbox for the dead-letter queue.
    public var deadLettered: [MessagePosition]
    /// True when the request repeated a `ReceiveRequestAttemptId` and got the first batch again.
    public var repeatedAttempt: Bool

    public init(deliveries: [Delivery] = [], deadLettered: [MessagePosition] = [], repeatedAttempt: Bool = false) {
        self.deliveries = deliveries
        self.deadLettered = deadLettered
        self.repeatedAttempt = repeatedAttempt
    }
}

/// What a delete did.
public enum DeleteOutcome: Sendable, Hashable {
    case deleted
    /// The message was already gone (deleted, expired, purged or dead-lettered): deleting is idempotent, as SQS.
    case alreadyGone
}

/// A redrive's progress (SQS `ListMessageMoveTasks`).
public struct MoveTaskStatus: Sendable, Hashable {
    public enum State: UInt8, Sendable, Hashable {
        case running = 1
        case completed = 2
        case cancelled = 3
    }

    public var taskID: String
    public var destination: String?
    public var maxMessagesPerSecond: Int
    public var state: State
    public var startedAtMs: Int64
    /// Messages present when the task started (SQS `ApproximateNumberOfMessagesToMove`).
    public var messagesToMove: Int
    public var messagesMoved: Int
    /// Messages left in place: in flight when the task passed them, without a source to return to, or moved
    /// `QueueLimits.maxMessageMoves` times already.
    public var messagesSkipped: Int
    /// The task moves messages below this sequence number (those present when it started).
    package var endSequence: UInt64
    /// The next sequence number to look at.
    package var cursor: UInt64

    package init(
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int,
        state: State,
        startedAtMs: Int64,
        messagesToMove: Int,
        messagesMoved: Int,
        messagesSkipped: Int,
        endSequence: UInt64,
        cursor: UInt64
    ) {
        self.taskID = taskID
        self.destination = destination
        self.maxMessagesPerSecond = maxMessagesPerSecond
        self.state = state
        self.startedAtMs = startedAtMs
        self.messagesToMove = messagesToMove
        self.messagesMoved = messagesMoved
        self.messagesSkipped = messagesSkipped
        self.endSequence = endSequence
        self.cursor = cursor
    }
}

/// The numbers SQS reports as `Approximate*` attributes (exact here), for one partition.
/// A FIFO group with messages in a partition (the console's "FIFO groups with a backlog").
public struct GroupBacklog: Sendable, Hashable {
    public var groupID: String
    /// Its messages in the partition (visible, in flight and delayed).
    public var messages: Int
    /// Those in flight: while one is, the group's next message waits (the group is blocked).
    public var inFlight: Int
    /// When its oldest message was sent (the entry's time).
    public var oldestSentAtMs: Int64

    public init(groupID: String, messages: Int, inFlight: Int, oldestSentAtMs: Int64) {
        self.groupID = groupID
        self.messages = messages
        self.inFlight = inFlight
        self.oldestSentAtMs = oldestSentAtMs
    }
}

public struct QueueStatistics: Sendable, Hashable {
    public var visible: Int
    public var inFlight: Int
    public var delayed: Int
    /// Entry time of the oldest message's send, nil when empty.
    public var oldestSentAtMs: Int64?
    public var groups: Int
    public var groupsWithInFlight: Int
    public var outbox: Int
    public var deduplicationRecords: Int
    public var producerSessions: Int
    /// Totals since the partition was created.
    public var sent: UInt64
    public var received: UInt64
    public var deleted: UInt64
    public var deadLettered: UInt64
    public var expired: UInt64
    /// Messages past the redrive policy's maxReceiveCount kept in the queue because they were moved
    /// `QueueLimits.maxMessageMoves` times already (no automatic dead-lettering; a move task moves them). A
    /// current count, not a total; in the slot where builds before issue 18 sent dropped outbox moves.
    public var movesExhausted: UInt64

    public init(
        visible: Int,
        inFlight: Int,
        delayed: Int,
        oldestSentAtMs: Int64?,
        groups: Int,
        groupsWithInFlight: Int,
        outbox: Int,
        deduplicationRecords: Int,
        producerSessions: Int,
        sent: UInt64,
        received: UInt64,
        deleted: UInt64,
        deadLettered: UInt64,
        expired: UInt64,
        movesExhausted: UInt64
    ) {
        self.visible = visible
        self.inFlight = inFlight
        self.delayed = delayed
        self.oldestSentAtMs = oldestSentAtMs
        self.groups = groups
        self.groupsWithInFlight = groupsWithInFlight
        self.outbox = outbox
        self.deduplicationRecords = deduplicationRecords
        self.producerSessions = producerSessions
        self.sent = sent
        self.received = received
        self.deleted = deleted
        self.deadLettered = deadLettered
        self.expired = expired
        self.movesExhausted = movesExhausted
    }

    public func ageOfOldestMs(nowMs: Int64) -> Int64 {
        oldestSentAtMs.map { max(0, nowMs - $0) } ?? 0
    }
}

/// What a producer whose send timed out can learn (DESIGN §1: resolve the ambiguity instead of guessing).
public enum SendStatus: Sendable, Hashable {
    /// Accepted at this position; `atMs` is the acceptance time when known (dedup ids: the window runs from it).
    case accepted(MessagePosition, atMs: Int64?)
    /// Not accepted inside the window (or the window has passed): sending again is safe only inside the window.
    case unknown
}

/// What a receive on one partition would hand out now (`QueuePartition.deliverableSummary`).
public struct DeliverableSummary: Sendable, Hashable {
    /// Messages a receive would deliver now, counted up to the limit asked for.
    public var count: Int
    /// Messages a receive with the given request attempt id would hand out again: that attempt's earlier
    /// batch, still in flight under its handles.
    public var repeatedAttemptCount: Int
    /// FIFO: when the first ready group's head became available (the order across partitions); nil otherwise.
    public var firstAvailableAtMs: Int64?
    /// A delay or visibility deadline has passed that no entry has applied yet: a receive (whose entry applies
    /// it first) may hand out more than `count`.
    public var pendingDeadline: Bool

    public init(count: Int, repeatedAttemptCount: Int, firstAvailableAtMs: Int64?, pendingDeadline: Bool = false) {
        self.count = count
        self.repeatedAttemptCount = repeatedAttemptCount
        self.firstAvailableAtMs = firstAvailableAtMs
        self.pendingDeadline = pendingDeadline
    }

    /// Whether a receive could hand out anything at all.
    public var mayDeliver: Bool { count > 0 || repeatedAttemptCount > 0 || pendingDeadline }
}
