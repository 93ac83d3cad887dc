import DequeModule
import FerryCrypto
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

/// A deduplication key: the first 128 bits of the SHA-256 of the scoped id (the id, prefixed by the group id
/// and a zero byte when the queue's scope is `messageGroup`). Every record is the same small size whatever the
/// id's length, and SHA-256 keeps a client from choosing an id that collides with another client's (by chance:
/// 2^-128 per pair). The zero key marks an empty bucket of `DedupWindow`: a digest of zero becomes 1.
public struct DedupKey: Sendable, Hashable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = high == 0 && low == 0 ? 1 : low
    }

    /// The key of a scoped id as snapshots before version 4 stored it (and as `key(deduplicationID:…)` hashes).
    public init(scoped: String) {
        var text = scoped
        let digest = text.withUTF8 { Digests.sha256Prefix128(UnsafeRawBufferPointer($0)) }
        self.init(high: digest.high, low: digest.low)
    }

    static let empty = DedupKey(rawHigh: 0, rawLow: 0)

    private init(rawHigh: UInt64, rawLow: UInt64) {
        high = rawHigh
        low = rawLow
    }

    public var description: String {
        let text = String(high, radix: 16) + ":" + String(low, radix: 16)
        return text
    }
}

/// The deduplication ids seen within a queue partition's window: a send whose id was accepted less than
/// `windowMs` ago returns the first send's result and enqueues nothing (DESIGN §1: replicated state).
///
/// An open-addressing table of 32-byte buckets (key digest, sequence number, acceptance time; linear probing,
/// removal by backward shift) and a queue of the keys in acceptance order: no string is kept and no hasher runs
/// (a `[String: …]` dictionary took about 110 bytes per record and 14 % of the send path's time, issue 19).
/// Time is the entries' leader timestamps, which never go backwards here, so records expire in insertion order.
/// - Invariant: `order` holds every key of the table exactly once, by non-decreasing acceptance time.
/// - Invariant: the table is empty or a power of two of buckets, at most three quarters used.
public struct DedupWindow: Sendable {
    struct Bucket: Sendable {
        var key: DedupKey
        var sequence: UInt64
        var atMs: Int64
    }

    /// The partition whose positions the records name.
    public let partition: UInt32
    private var buckets: [Bucket] = []
    private var order = Deque<DedupKey>()
    /// The acceptance time of the newest record.
    private var lastInsertAtMs: Int64?

    public init(partition: UInt32 = 0) { self.partition = partition }

    public var count: Int { order.count }

    /// The key for an id under a scope.
    public static func key(deduplicationID: String, groupID: String?, scope: DeduplicationScope) -> DedupKey {
        var id = deduplicationID
        switch scope {
        case .queue:
            let digest = id.withUTF8 { Digests.sha256Prefix128(UnsafeRawBufferPointer($0)) }
            return DedupKey(high: digest.high, low: digest.low)
        case .messageGroup:
            var group = groupID ?? ""
            let digest = group.withUTF8 { groupBytes in
                id.withUTF8 { idBytes in
                    withUnsafeBytes(of: UInt8(0)) { zero in
                        Digests.sha256Prefix128(
                            UnsafeRawBufferPointer(groupBytes),
                            zero,
                            UnsafeRawBufferPointer(idBytes)
                        )
                    }
                }
            }
            return DedupKey(high: digest.high, low: digest.low)
        }
    }

    public mutating func reserveCapacity(_ count: Int) {
        order.reserveCapacity(count)
        let wanted = Self.capacity(for: count)
        if wanted > buckets.count { rehash(capacity: wanted) }
    }

    /// The bucket count that holds `count` records at most three quarters full (a power of two, at least 16).
    static func capacity(for count: Int) -> Int {
        var capacity = 16
        while capacity * 3 < count * 4 + 4 { capacity *= 2 }
        return capacity
    }

    private func home(_ key: DedupKey) -> Int { Int(truncatingIfNeeded: key.low) & (buckets.count - 1) }

    /// The bucket holding `key`, if any.
    private func find(_ key: DedupKey) -> Int? {
        guard !buckets.isEmpty else { return nil }
        let mask = buckets.count - 1
        var at = home(key)
        while true {
            let found = buckets[at].key
            if found == key { return at }
            if found == .empty { return nil }
            at = (at + 1) & mask
        }
    }

    private mutating func rehash(capacity: Int) {
        let old = buckets
        buckets = Array(repeating: Bucket(key: .empty, sequence: 0, atMs: 0), count: capacity)
        for bucket in old where bucket.key != .empty { place(bucket) }
    }

    /// Puts a bucket whose key is absent into the first free bucket from its home.
    private mutating func place(_ bucket: Bucket) {
        let mask = buckets.count - 1
        var at = home(bucket.key)
        while buckets[at].key != .empty { at = (at + 1) & mask }
        buckets[at] = bucket
    }

    /// Empties bucket `at`, moving back the records after it that probed past it (so no lookup stops early).
    private mutating func removeBucket(at start: Int) {
        let mask = buckets.count - 1
        var hole = start
        var next = (hole + 1) & mask
        while buckets[next].key != .empty {
            let wanted = home(buckets[next].key)
            // The record at `next` may fill the hole unless its home lies after the hole, up to `next`.
            if (next - wanted) & mask >= (next - hole) & mask {
                buckets[hole] = buckets[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        buckets[hole] = Bucket(key: .empty, sequence: 0, atMs: 0)
    }

    private func record(_ bucket: Bucket) -> DedupRecord {
        DedupRecord(
            position: MessagePosition(
                partition: partition,
                index: bucket.sequence >> 10,
                slot: UInt16(truncatingIfNeeded: bucket.sequence & 0x3FF)
            ),
            acceptedAtMs: bucket.atMs
        )
    }

    /// Whether `key` has a record, expired or not (expiry happens in `expire`).
    public func contains(_ key: DedupKey) -> Bool { find(key) != nil }

    /// The first send's record when it was accepted less than `windowMs` before `nowMs`.
    public func lookup(_ key: DedupKey, nowMs: Int64, windowMs: Int64) -> DedupRecord? {
        guard let at = find(key), nowMs < buckets[at].atMs + windowMs else { return nil }
        return record(buckets[at])
    }

    /// Remembers an accepted send at its acceptance time, replacing an older record of the key.
    /// - Precondition: the acceptance time is not earlier than any remembered one.
    public mutating func insert(_ key: DedupKey, _ record: DedupRecord) {
        if let newest = lastInsertAtMs, !order.isEmpty {
            precondition(record.acceptedAtMs >= newest, "dedup window: time going backwards")
        }
        let bucket = Bucket(key: key, sequence: record.position.sequenceNumber, atMs: record.acceptedAtMs)
        if let at = find(key) {
            // An expired record not yet swept: rare, so the linear removal from `order` is affordable.
            buckets[at] = bucket
            order.removeAll { $0 == key }
        } else {
            if (order.count + 1) * 4 > buckets.count * 3 { rehash(capacity: max(16, buckets.count * 2)) }
            place(bucket)
        }
        order.append(key)
        lastInsertAtMs = record.acceptedAtMs
    }

    /// Forgets every record accepted `windowMs` or more before `nowMs`; gives memory back once the table is
    /// mostly empty.
    public mutating func expire(nowMs: Int64, windowMs: Int64) {
        var removed = false
        while let first = order.first, let at = find(first), buckets[at].atMs + windowMs <= nowMs {
            order.removeFirst()
            removeBucket(at: at)
            removed = true
        }
        guard removed else { return }
        if order.isEmpty {
            buckets = []
        } else if buckets.count > 1_024 && order.count * 8 < buckets.count {
            rehash(capacity: Self.capacity(for: order.count * 2))
        }
    }

    /// The records in acceptance order: the snapshot form, restored by inserting them in this order.
    public var orderedRecords: [(key: DedupKey, record: DedupRecord)] {
        order.compactMap { key in find(key).map { (key, record(buckets[$0])) } }
    }

    /// Inserts a snapshot record, refusing time going backwards or a key twice instead of trapping.
    mutating func insertRestored(_ key: DedupKey, _ record: DedupRecord) throws(QueueDecodeError) {
        if let newest = lastInsertAtMs, !order.isEmpty, record.acceptedAtMs < newest {
            throw .invalid("window records out of order")
        }
        guard !contains(key) else { throw .invalid("window key twice") }
        insert(key, record)
    }

    /// What breaks the invariants (the simulator and tests check them).
    public var invariantViolations: [String] {
        var problems: [String] = []
        let used = buckets.filter { $0.key != .empty }
        if used.count != order.count { problems.append("dedup: \(used.count) buckets used, \(order.count) in order") }
        if !buckets.isEmpty && (buckets.count & (buckets.count - 1) != 0 || used.count * 4 > buckets.count * 3) {
            problems.append("dedup: \(used.count) of \(buckets.count) buckets used")
        }
        var previous = Int64.min
        for key in order {
            guard let at = find(key) else {
                problems.append("dedup: key \(key) in order but not found")
                continue
            }
            if buckets[at].atMs < previous { problems.append("dedup: order not by acceptance time") }
            previous = buckets[at].atMs
        }
        return problems
    }
}
