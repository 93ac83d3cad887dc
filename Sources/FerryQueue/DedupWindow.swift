import FerryModel
import NIOCore

/// Keys remembered for a window of entry time: the deduplication table, the record of moves a queue took in,
/// and the receive-request-attempt cache are all one of these, replicated state (DESIGN §1).
///
/// Time is the entries' leader timestamps, which never go backwards here; records expire in insertion order,
/// so expiry costs O(expired).
/// - Invariant: `order` holds every key of `records` exactly once, by non-decreasing insertion time.
public struct ExpiringTable<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private(set) var records: [Key: (value: Value, atMs: Int64)] = [:]
    private var order = CircularBuffer<Key>()
    /// The insertion time of the last insert (kept so that an insert hashes its key once).
    private var lastInsertAtMs: Int64?

    public init() {}

    public var count: Int { records.count }

    public mutating func reserveCapacity(_ count: Int) {
        records.reserveCapacity(count)
        order.reserveCapacity(count)
    }

    /// Whether `key` has a record, expired or not (expiry happens in `expire`).
    public func contains(_ key: Key) -> Bool { records[key] != nil }

    /// The insertion time of the newest record.
    public var newestAtMs: Int64? { order.isEmpty ? nil : lastInsertAtMs }

    /// The value stored under `key` when it was inserted less than `windowMs` before `nowMs`.
    public func lookup(_ key: Key, nowMs: Int64, windowMs: Int64) -> Value? {
        guard let record = records[key], nowMs < record.atMs + windowMs else { return nil }
        return record.value
    }

    /// Remembers `value` under `key` from `atMs` on, replacing an older record of the key.
    /// - Precondition: `atMs` is not earlier than any remembered insertion.
    public mutating func insert(_ key: Key, _ value: Value, atMs: Int64) {
        if let newest = newestAtMs { precondition(atMs >= newest, "expiring table: time going backwards") }
        if records.updateValue((value, atMs), forKey: key) != nil { order.removeAll { $0 == key } }
        order.append(key)
        lastInsertAtMs = atMs
    }

    /// Replaces the value of a live key, keeping its insertion time.
    public mutating func update(_ key: Key, _ value: Value) {
        guard let record = records[key] else { return }
        records[key] = (value, record.atMs)
    }

    /// Forgets every record inserted `windowMs` or more before `nowMs`.
    public mutating func expire(nowMs: Int64, windowMs: Int64) {
        while let first = order.first, let record = records[first], record.atMs + windowMs <= nowMs {
            order.removeFirst()
            records[first] = nil
        }
    }

    /// The records in insertion order: the snapshot form, restored by inserting them in this order.
    public var ordered: [(key: Key, value: Value, atMs: Int64)] {
        order.compactMap { key in records[key].map { (key, $0.value, $0.atMs) } }
    }
}

/// What a deduplicated send answers: the first send's message position and when it was accepted.
public struct DedupRecord: Sendable, Hashable {
    public var position: MessagePosition
    /// The leader's timestamp of the entry that accepted the first send.
    public var acceptedAtMs: Int64

    public init(position: MessagePosition, acceptedAtMs: Int64) {
        self.position = position
        self.acceptedAtMs = acceptedAtMs
    }
}

/// The deduplication ids seen within a queue partition's window: a send whose id was accepted less than
/// `windowMs` ago returns the first send's result and enqueues nothing. The key is the deduplication id,
/// prefixed by the group id when the queue's scope is `messageGroup`.
public typealias DedupWindow = ExpiringTable<String, DedupRecord>

extension ExpiringTable where Key == String, Value == DedupRecord {
    /// The key for an id under a scope.
    public static func key(deduplicationID: String, groupID: String?, scope: DeduplicationScope) -> String {
        switch scope {
        case .queue: return deduplicationID
        case .messageGroup: return (groupID ?? "") + "\u{0}" + deduplicationID
        }
    }

    /// Remembers an accepted send at its acceptance time.
    public mutating func insert(_ key: String, _ record: DedupRecord) {
        insert(key, record, atMs: record.acceptedAtMs)
    }

    /// The records in acceptance order.
    public var orderedRecords: [(key: String, record: DedupRecord)] {
        ordered.map { ($0.key, $0.value) }
    }
}
