import HeapModule

/// The FIFO groups that can hand out a message now, in SQS's order: the group whose head became available
/// first comes first. A head that was never received became available when it was sent (or when its delay
/// ended); a head that came back from in flight became available when its visibility ended, so a group that was
/// just served goes behind the groups that waited (SQS hands out `g3` before `g1` after `g1`'s receive timed
/// out, although `g1` was sent first). Ties go to the older head. A receive takes the groups it needs from the
/// front in O(log n) each, so a backlog in some groups never slows or hides the others (SQS scans only its first
/// 120,000 messages; Ferry scans nothing).
///
/// A min-heap (swift-collections' `Heap`) over (key, group) with lazy removal: `remove` only forgets the group's
/// entry in `current`, and stale heap items are dropped when they reach the top.
/// - Invariant: every group in `current` has exactly one live heap item, with the key stored there.
/// - Invariant: the heap's top is live (or the heap is empty), so `first` reads without changing anything.
public struct ReadyIndex: Sendable {
    /// Where a ready group stands: when its head became available, then the head's sequence number.
    public struct Key: Sendable, Hashable, Comparable {
        public var availableAtMs: Int64
        public var headSequence: UInt64

        public init(availableAtMs: Int64, headSequence: UInt64) {
            self.availableAtMs = availableAtMs
            self.headSequence = headSequence
        }

        public static func < (a: Key, b: Key) -> Bool {
            (a.availableAtMs, a.headSequence) < (b.availableAtMs, b.headSequence)
        }
    }

    struct Item: Sendable, Comparable {
        var key: Key
        var group: String

        static func < (a: Item, b: Item) -> Bool { (a.key, a.group) < (b.key, b.group) }
    }

    private var heap = Heap<Item>()
    /// Each ready group's key.
    private(set) var current: [String: Key] = [:]

    public init() {}

    public var count: Int { current.count }
    public var isEmpty: Bool { current.isEmpty }

    public func contains(_ group: String) -> Bool { current[group] != nil }

    /// Marks `group` ready with its oldest message at `headSequence`, available since `availableAtMs`
    /// (replacing an earlier mark).
    public mutating func insert(_ group: String, headSequence: UInt64, availableAtMs: Int64) {
        let key = Key(availableAtMs: availableAtMs, headSequence: headSequence)
        if current[group] == key { return }
        current[group] = key
        heap.insert(Item(key: key, group: group))
        dropStaleTop()
        compactIfStale()
    }

    /// The group is no longer ready (its head is in flight, or it is empty).
    public mutating func remove(_ group: String) {
        guard current.removeValue(forKey: group) != nil else { return }
        dropStaleTop()
        compactIfStale()
    }

    /// The ready group that comes first, without removing it.
    public var first: (group: String, key: Key)? {
        heap.min.map { ($0.group, $0.key) }
    }

    /// Removes and returns the ready group that comes first.
    public mutating func popFirst() -> (group: String, key: Key)? {
        guard let top = heap.popMin() else { return nil }
        current[top.group] = nil
        dropStaleTop()
        return (top.group, top.key)
    }

    /// The ready groups, unordered (for counting).
    public var groups: Dictionary<String, Key>.Keys { current.keys }

    /// Restores the second invariant after a mark was replaced or removed.
    private mutating func dropStaleTop() {
        while let top = heap.min, current[top.group] != top.key { heap.removeMin() }
    }

    /// Rebuilds the heap when stale items outnumber live ones, so memory stays proportional to ready groups.
    private mutating func compactIfStale() {
        guard heap.count > 64 && heap.count > 2 * current.count else { return }
        heap = Heap(current.keys.sorted().map { Item(key: current[$0]!, group: $0) })
    }
}
