import FerryModel
import NIOCore

/// Every state change of a queue partition is one of these, in a Raft entry (DESIGN §9: receives, deletes and
/// visibility changes are entries too, so a new leader knows exactly what is in flight). The leader packs the
/// requests of many clients into one entry: each list is answered entry by entry.
public enum QueueCommand: Sendable, Hashable {
    case send([SendRequest])
    case receive([ReceiveRequest])
    case delete([ReceiptHandle])
    case changeVisibility([VisibilityChange])
    case purge
    /// No change but the time: the leader proposes it when a deadline it knows of has passed.
    case advanceTime
    /// New attributes from the metadata group (validated there and again here).
    case setAttributes(QueueAttributes)
    /// The destinations committed these outbox moves: forget them.
    case acknowledgeMoves([UInt64])
    case startMoveTask(MoveTaskRequest)
    case cancelMoveTask(taskID: String)
}

/// A command with the leader's timestamp: the payload of a queue partition's Raft entry.
///
/// Encoding (big-endian): `version u8 (3; 1 and 2 are still read: attributes without policy and tags, without
/// server-side encryption settings) | timestampMs i64 | kind u8 | body`. Kinds: 1 send, 2 receive,
/// 3 delete, 4 change visibility, 5 purge, 6 advance time, 7 set attributes, 8 acknowledge moves, 9 start move
/// task, 10 cancel move task; append-only. Strings are `u16 length | UTF-8`,
/// optional fields are preceded by a presence byte, bodies are `u32 length | bytes`.
public struct QueueEntry: Sendable, Hashable {
    public static let version: UInt8 = 3

    public var timestampMs: Int64
    public var command: QueueCommand

    public init(timestampMs: Int64, command: QueueCommand) {
        self.timestampMs = timestampMs
        self.command = command
    }
}
