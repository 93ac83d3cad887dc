/// Why the queue state machine refused a command or one entry of a batch. Every refusal changes no state. The
/// wire codes and SQS error shapes for these live in FerryWire's error table (with the node issue); the cases
/// here are stable.
public enum QueueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An attribute is out of its range or does not apply to this kind of queue.
    case invalidAttribute(name: String, reason: String)
    case invalidQueueName(String, reason: String)
    /// A message group id is missing, empty, too long or uses characters outside SQS's set.
    case invalidGroupID(reason: String)
    case invalidDeduplicationID(reason: String)
    /// A FIFO send without a deduplication id on a queue without content-based deduplication.
    case missingDeduplicationID
    case messageTooLarge(bytes: Int, limitBytes: Int)
    /// A per-message delay on a FIFO queue (SQS allows delays only per queue there).
    case perMessageDelayOnFIFO
    case tooManyEntries(count: Int, limit: Int)
    /// A command with nothing in it (a batch of zero entries).
    case emptyBatch
    /// A receive, delete or visibility parameter outside its range.
    case invalidParameter(name: String, reason: String)
    /// The receipt handle names no message this partition ever had.
    case invalidReceiptHandle
    /// The message was delivered again since this handle was issued; only the latest handle counts. On FIFO
    /// queues also a delete with the latest handle once its visibility timeout ended (SQS: the handle expired).
    case staleReceiptHandle
    /// A visibility change for a message that is not in flight.
    case messageNotInFlight
    /// A visibility change for a message that is gone (deleted, expired, purged or moved).
    case messageGone
    /// Extending a delivery's visibility past 12 hours after it was received.
    case visibilityBeyondMaximum
    /// The partition holds as many in-flight messages as the queue allows (SQS `OverLimit`).
    case tooManyInFlight(limit: Int)
    /// A producer-session send whose sequence is not the next one: resend from `expected`.
    case outOfOrderSequence(expected: UInt64)
    /// A newer epoch of this producer exists: this producer instance is a zombie.
    case producerFenced(currentEpoch: UInt32)
    /// A producer-session send with a sequence other than 0 and no session here (never started or expired).
    case unknownProducer
    /// The entry's payload is not a queue command this version understands.
    case undecodable(QueueDecodeError)
    case moveTaskAlreadyRunning(taskID: String)
    case moveTaskNotFound(taskID: String)

    public var description: String {
        switch self {
        case .invalidAttribute(let name, let reason): return "invalid attribute \(name): \(reason)"
        case .invalidQueueName(let name, let reason): return "invalid queue name \(name): \(reason)"
        case .invalidGroupID(let reason): return "invalid message group id: \(reason)"
        case .invalidDeduplicationID(let reason): return "invalid deduplication id: \(reason)"
        case .missingDeduplicationID:
            return "a FIFO queue without content-based deduplication needs a deduplication id"
        case .messageTooLarge(let bytes, let limit): return "message of \(bytes) bytes exceeds \(limit)"
        case .perMessageDelayOnFIFO: return "FIFO queues take a delay per queue, not per message"
        case .tooManyEntries(let count, let limit): return "\(count) entries exceed the limit of \(limit)"
        case .emptyBatch: return "a batch needs at least one entry"
        case .invalidParameter(let name, let reason): return "invalid \(name): \(reason)"
        case .invalidReceiptHandle: return "the receipt handle names no message of this queue partition"
        case .staleReceiptHandle: return "the message was received again since this receipt handle was issued"
        case .messageNotInFlight: return "the message is not in flight"
        case .messageGone: return "the message does not exist any more (deleted, expired, purged or moved)"
        case .visibilityBeyondMaximum: return "visibility would extend past 12 hours after the receive"
        case .tooManyInFlight(let limit): return "the queue already has \(limit) messages in flight"
        case .outOfOrderSequence(let expected): return "out-of-order producer sequence; expected \(expected)"
        case .producerFenced(let epoch): return "producer fenced by epoch \(epoch)"
        case .unknownProducer: return "unknown producer session; start again at sequence 0"
        case .undecodable(let error): return "entry does not decode: \(error)"
        case .moveTaskAlreadyRunning(let id): return "move task \(id) is still running"
        case .moveTaskNotFound(let id): return "no running move task \(id)"
        }
    }
}
