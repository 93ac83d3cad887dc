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
/// The records (key digest, sequence number, acceptance time: 32 bytes) in acceptance order, numbered from the
/// first ever inserted, and an open-addressing index of 8-byte slots (a record's number + 1; linear probing,
/// removal by backward shift) that finds them: no string is kept and no hasher runs. A `[String: …]` dictionary
/// took about 110 bytes per record and 14 % of the send path's time (issue 19); this takes 32 + 8 per slot.
/// Time is the entries' leader timestamps, which never go backwards here, so records expire from the front.
/// - Invariant: `records` is in non-decreasing acceptance time; a replaced record is left as a hole (empty key).
/// - Invariant: every live record has exactly one slot, holding its number + 1; no slot names a hole.
/// - Invariant: `slots` is empty or a power of two long, at most three quarters used.
public struct DedupWindow: Sendable {
    struct Record: Sendable {
        var key: DedupKey
        var sequence: UInt64
        var atMs: Int64
    }

    /// The partition whose positions the records name.
    public let partition: UInt32
    /// Chunked, as the hash slots are: a snapshot's copy shares them and a change copies one chunk (issue 19).
    private var records = ChunkedDeque<Record>()
    /// The number of `records.first`.
    private var firstNumber: UInt64 = 0
    private var slots = ChunkedDeque<UInt64>()
    public private(set) var count = 0

    public init(partition: UInt32 = 0) { self.partition = partition }

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
        records.reserveCapacity(count)
        let wanted = Self.capacity(for: count)
        if wanted > slots.count { rehash(capacity: wanted) }
    }

    /// The slot count that holds `count` records at most three quarters full (a power of two, at least 16).
    static func capacity(for count: Int) -> Int {
        var capacity = 16
        while capacity * 3 < count * 4 + 4 { capacity *= 2 }
        return capacity
    }

    private func home(_ key: DedupKey) -> Int { Int(truncatingIfNeeded: key.low) & (slots.count - 1) }

    private func record(number: UInt64) -> Record { records[Int(number - firstNumber)] }

    /// The slot naming the live record of `key`, if any.
    private func find(_ key: DedupKey) -> Int? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var at = home(key)
        while slots[at] != 0 {
            if record(number: slots[at] - 1).key == key { return at }
            at = (at + 1) & mask
        }
        return nil
    }

    private mutating func rehash(capacity: Int) {
        slots = ChunkedDeque(repeating: 0, count: capacity)
        for (offset, record) in records.enumerated() where record.key != .empty {
            place(record.key, number: firstNumber + UInt64(offset))
        }
    }

    /// Puts the number of a record whose key has no slot into the first free slot from the key's home.
    private mutating func place(_ key: DedupKey, number: UInt64) {
        let mask = slots.count - 1
        var at = home(key)
        while slots[at] != 0 { at = (at + 1) & mask }
        slots[at] = number + 1
    }

    /// Empties slot `at`, moving back the slots after it that probed past it (so no lookup stops early).
    private mutating func removeSlot(at start: Int) {
        let mask = slots.count - 1
        var hole = start
        var next = (hole + 1) & mask
        while slots[next] != 0 {
            let wanted = home(record(number: slots[next] - 1).key)
            // The slot at `next` may fill the hole unless its home lies after the hole, up to `next`.
            if (next - wanted) & mask >= (next - hole) & mask {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = 0
    }

    private func dedupRecord(_ record: Record) -> DedupRecord {
        DedupRecord(
            position: MessagePosition(
                partition: partition,
                index: record.sequence >> 10,
                slot: UInt16(truncatingIfNeeded: record.sequence & 0x3FF)
            ),
            acceptedAtMs: record.atMs
        )
    }

    /// Whether `key` has a record, expired or not (expiry happens in `expire`).
    public func contains(_ key: DedupKey) -> Bool { find(key) != nil }

    /// The first send's record when it was accepted less than `windowMs` before `nowMs`.
    public func lookup(_ key: DedupKey, nowMs: Int64, windowMs: Int64) -> DedupRecord? {
        guard let at = find(key) else { return nil }
        let found = record(number: slots[at] - 1)
        guard nowMs < found.atMs + windowMs else { return nil }
        return dedupRecord(found)
    }

    /// Remembers an accepted send at its acceptance time, replacing an older record of the key.
    /// - Precondition: the acceptance time is not earlier than any remembered one.
    public mutating func insert(_ key: DedupKey, _ record: DedupRecord) {
        if let newest = records.last {
            precondition(record.acceptedAtMs >= newest.atMs, "dedup window: time going backwards")
        }
        let number = firstNumber + UInt64(records.count)
        if let at = find(key) {
            // An expired record not yet swept: its place in the order becomes a hole.
            records[Int(slots[at] - 1 - firstNumber)].key = .empty
            slots[at] = number + 1
        } else {
            if (count + 1) * 4 > slots.count * 3 { rehash(capacity: max(16, slots.count * 2)) }
            place(key, number: number)
            count += 1
        }
        records.append(Record(key: key, sequence: record.position.sequenceNumber, atMs: record.acceptedAtMs))
    }

    /// Forgets every record accepted `windowMs` or more before `nowMs`; gives memory back once the window is
    /// mostly empty.
    public mutating func expire(nowMs: Int64, windowMs: Int64) {
        var removed = false
        while let first = records.first, first.atMs + windowMs <= nowMs {
            if first.key != .empty, let at = find(first.key) {
                removeSlot(at: at)
                count -= 1
            }
            records.removeFirst()
            firstNumber += 1
            removed = true
        }
        guard removed else { return }
        if records.isEmpty {
            records = ChunkedDeque()
            slots = ChunkedDeque()
        } else if slots.count > 1_024 && count * 8 < slots.count {
            // Mostly empty: the records without their holes, in a deque of their size, and a smaller index.
            records = ChunkedDeque(records.lazy.filter { $0.key != .empty })
            rehash(capacity: Self.capacity(for: count * 2))
        }
    }

    /// The records in acceptance order: the snapshot form, restored by inserting them in this order.
    public var orderedRecords: [(key: DedupKey, record: DedupRecord)] {
        records.filter { $0.key != .empty }.map { ($0.key, dedupRecord($0)) }
    }

    /// Inserts a snapshot record, refusing time going backwards or a key twice instead of trapping.
    mutating func insertRestored(_ key: DedupKey, _ record: DedupRecord) throws(QueueDecodeError) {
        if let newest = records.last, record.acceptedAtMs < newest.atMs {
            throw .invalid("window records out of order")
        }
        guard !contains(key) else { throw .invalid("window key twice") }
        insert(key, record)
    }

    /// How many chunks of this window are shared with `other`, of how many (tests of copy-on-write per chunk).
    func chunks(sharedWith other: DedupWindow) -> (shared: Int, total: Int) {
        (
            records.sharedChunks(with: other.records) + slots.sharedChunks(with: other.slots),
            records.chunkCount + slots.chunkCount
        )
    }

    /// What breaks the invariants (the simulator and tests check them).
    public var invariantViolations: [String] {
        var problems: [String] = []
        let used = slots.filter { $0 != 0 }.count
        let live = records.filter { $0.key != .empty }.count
        if used != count || live != count { problems.append("dedup: \(used) slots, \(live) records, count \(count)") }
        if !slots.isEmpty && (slots.count & (slots.count - 1) != 0 || used * 4 > slots.count * 3) {
            problems.append("dedup: \(used) of \(slots.count) slots used")
        }
        var previous = Int64.min
        for (offset, record) in records.enumerated() {
            if record.atMs < previous { problems.append("dedup: records not by acceptance time") }
            previous = record.atMs
            guard record.key != .empty else { continue }
            guard let at = find(record.key), slots[at] - 1 == firstNumber + UInt64(offset) else {
                problems.append("dedup: record \(record.key) not found at its number")
                continue
            }
        }
        return problems + records.invariantViolations("dedup records") + slots.invariantViolations("dedup slots")
    }
}
