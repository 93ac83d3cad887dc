import NIOCore

/// What a deduplicated send answers: the first send's message id position and when it was accepted.
public struct DedupRecord: Sendable, Hashable {
    public var position: MessagePosition
    /// The leader's timestamp of the entry that accepted the first send.
    public var acceptedAtMs: Int64

    public init(position: MessagePosition, acceptedAtMs: Int64) {
        self.position = position
        self.acceptedAtMs = acceptedAtMs
    }
}

/// The deduplication ids seen within a queue partition's window, replicated state (DESIGN §1): a send whose id
/// was accepted less than `windowMs` ago returns the first send's result and enqueues nothing.
///
/// Time is the entries' leader timestamps, which never go backwards; records expire in acceptance order, so
/// expiry costs O(expired). The key is the deduplication id, prefixed by the group id when the queue's scope
/// is `messageGroup`.
/// - Invariant: `order` holds every key of `records` exactly once, by non-decreasing `acceptedAtMs`.
public struct DedupWindow: Sendable {
    private(set) var records: [String: DedupRecord] = [:]
    private var order = CircularBuffer<String>()

    public init() {}

    public var count: Int { records.count }

    /// The key for an id under a scope.
    public static func key(deduplicationID: String, groupID: String?, scope: DeduplicationScope) -> String {
        switch scope {
        case .queue: return deduplicationID
        case .messageGroup: return (groupID ?? "") + "\u{0}" + deduplicationID
        }
    }

    /// The first send's record when `key` was accepted within `windowMs` before `nowMs`.
    public func lookup(_ key: String, nowMs: Int64, windowMs: Int64) -> DedupRecord? {
        guard let record = records[key], nowMs < record.acceptedAtMs + windowMs else { return nil }
        return record
    }

    /// Remembers an accepted send.
    /// - Precondition: `record.acceptedAtMs` is not earlier than any remembered one, and `key` is not live.
    public mutating func insert(_ key: String, _ record: DedupRecord) {
        if let last = order.last, let newest = records[last] {
            precondition(record.acceptedAtMs >= newest.acceptedAtMs, "dedup time going backwards")
        }
        if records[key] != nil { order.removeAll { $0 == key } }
        records[key] = record
        order.append(key)
    }

    /// Forgets every record accepted `windowMs` or more before `nowMs`.
    public mutating func expire(nowMs: Int64, windowMs: Int64) {
        while let first = order.first, let record = records[first], record.acceptedAtMs + windowMs <= nowMs {
            order.removeFirst()
            records[first] = nil
        }
    }

    /// The records in acceptance order: the snapshot form, restored by inserting them in this order.
    public var orderedRecords: [(key: String, record: DedupRecord)] {
        order.compactMap { key in records[key].map { (key, $0) } }
    }
}
