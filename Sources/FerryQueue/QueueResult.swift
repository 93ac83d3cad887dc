import FerryModel
import NIOCore

/// The result of applying one entry; the leader answers each waiting client from it.
public enum QueueResult: Sendable, Hashable {
    case sent([Result<SendOutcome, QueueError>])
    case received([Result<ReceiveOutcome, QueueError>])
    case deleted([Result<DeleteOutcome, QueueError>])
    /// Each change's new visibility deadline.
    case visibilityChanged([Result<Int64, QueueError>])
    case purged(messages: Int)
    case timeAdvanced
    case attributesSet
    case movesAcknowledged(Int)
    case moveTaskStarted(MoveTaskStatus)
    case moveTaskCancelled(MoveTaskStatus)
    /// The whole command was refused and changed nothing.
    case rejected(QueueError)
}

/// A message waiting in the outbox for its destination queue to commit it (DESIGN §9: cross-partition moves).
/// The leader sends `request` to the destination (its `origin` makes the repeat after a crash harmless) and
/// proposes `acknowledgeMoves` once the destination committed it.
public struct OutboxMove: Sendable, Hashable {
    public enum Reason: Sendable, Hashable {
        case deadLetter
        case redrive(taskID: String)
    }

    public var id: UInt64
    public var destination: String
    public var request: SendRequest
    public var reason: Reason
    public var createdAtMs: Int64
}
