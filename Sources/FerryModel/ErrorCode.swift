/// The one table of error codes (DESIGN §3, §6): every refusal a client can see, with a stable number. Codes
/// are append-only; a retired code is never reused. The SQS layer maps these to AWS's error shapes.
///
/// | code | name | retry? | meaning |
/// |---|---|---|---|
/// | 1 | notLeader | elsewhere | this node does not lead the partition; `leaderHint` names the node that might |
/// | 2 | queueNotFound | no | no queue of that name |
/// | 3 | queueAlreadyExists | no | a queue of that name exists with other attributes |
/// | 4 | invalidArgument | no | a parameter or attribute outside its domain |
/// | 5 | outOfOrderSequence | from `expected` | a producer-session gap |
/// | 6 | producerFenced | no | a newer epoch of this producer exists |
/// | 7 | unknownProducer | new epoch | no session for this producer on the partition |
/// | 8 | throttled | later | back-pressure (uncommitted bytes, in-flight proposals) |
/// | 9 | unauthorized | no | missing or wrong credentials |
/// | 10 | messageTooLarge | no | over the queue's MaximumMessageSize |
/// | 11 | tooManyEntries | no | a batch above its limit, or empty |
/// | 12 | invalidReceiptHandle | no | the handle names no message of this partition |
/// | 13 | staleReceiptHandle | no | the message was delivered again since |
/// | 14 | messageNotInFlight | no | visibility change for a message not in flight |
/// | 15 | overLimit | later | the queue has as many messages in flight as it allows |
/// | 16 | unavailable | yes | no quorum or no leader right now |
/// | 17 | timeout | status first | the outcome is unknown (ask `sendStatus` before resending outside the window) |
/// | 18 | unsupportedVersion | no | a frame or entry version this node does not speak |
/// | 19 | moveTaskAlreadyRunning | no | a redrive runs on this queue |
/// | 20 | moveTaskNotFound | no | no such running redrive |
/// | 21 | internal | yes | a bug; the node logged it |
/// | 22 | messageGone | no | visibility change for a message that was deleted, expired, purged or moved |
/// | 23 | storageFull | elsewhere, later | this node's disk is full: it writes nothing until space returns |
public enum ErrorCode: UInt16, Sendable, Hashable, CaseIterable {
    case notLeader = 1
    case queueNotFound = 2
    case queueAlreadyExists = 3
    case invalidArgument = 4
    case outOfOrderSequence = 5
    case producerFenced = 6
    case unknownProducer = 7
    case throttled = 8
    case unauthorized = 9
    case messageTooLarge = 10
    case tooManyEntries = 11
    case invalidReceiptHandle = 12
    case staleReceiptHandle = 13
    case messageNotInFlight = 14
    case overLimit = 15
    case unavailable = 16
    case timeout = 17
    case unsupportedVersion = 18
    case moveTaskAlreadyRunning = 19
    case moveTaskNotFound = 20
    case `internal` = 21
    case messageGone = 22
    case storageFull = 23

    /// Whether a client may send the same request again (possibly elsewhere) without changing its meaning.
    public var isRetriable: Bool {
        switch self {
        case .notLeader, .throttled, .overLimit, .unavailable, .internal, .storageFull: return true
        default: return false
        }
    }
}

/// A refusal on the wire: its code, a human-readable message, and the code's details.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    /// `notLeader`: the node believed to lead (0: unknown).
    public var leaderHint: UInt64
    /// `outOfOrderSequence`: the next sequence the partition expects; `producerFenced`: the current epoch.
    public var expected: UInt64

    public init(_ code: ErrorCode, _ message: String, leaderHint: UInt64 = 0, expected: UInt64 = 0) {
        self.code = code
        self.message = message
        self.leaderHint = leaderHint
        self.expected = expected
    }

    public var description: String { "\(code) (\(code.rawValue)): \(message)" }

    /// The wire form of a queue state machine's refusal.
    public init(_ error: QueueError) {
        let message = error.description
        switch error {
        case .invalidAttribute, .invalidQueueName, .invalidGroupID, .invalidDeduplicationID, .missingDeduplicationID,
            .perMessageDelayOnFIFO, .invalidParameter, .visibilityBeyondMaximum:
            self.init(.invalidArgument, message)
        case .messageTooLarge: self.init(.messageTooLarge, message)
        case .tooManyEntries, .emptyBatch: self.init(.tooManyEntries, message)
        case .invalidReceiptHandle: self.init(.invalidReceiptHandle, message)
        case .staleReceiptHandle: self.init(.staleReceiptHandle, message)
        case .messageNotInFlight: self.init(.messageNotInFlight, message)
        case .messageGone: self.init(.messageGone, message)
        case .tooManyInFlight: self.init(.overLimit, message)
        case .outOfOrderSequence(let expected): self.init(.outOfOrderSequence, message, expected: expected)
        case .producerFenced(let epoch): self.init(.producerFenced, message, expected: UInt64(epoch))
        case .unknownProducer: self.init(.unknownProducer, message)
        case .undecodable: self.init(.unsupportedVersion, message)
        case .moveTaskAlreadyRunning: self.init(.moveTaskAlreadyRunning, message)
        case .moveTaskNotFound: self.init(.moveTaskNotFound, message)
        }
    }
}
