/// Why the queue state machine refused a command. Every refusal changes no state. The wire codes and SQS
/// error shapes for these live in FerryWire's error table (with the node issue); the cases here are stable.
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
        }
    }
}
