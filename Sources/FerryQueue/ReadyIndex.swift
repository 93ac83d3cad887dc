import HeapModule

/// The FIFO groups that can hand out a message now, oldest head first: a receive takes the groups it needs
/// from the front in O(log n) each, so a backlog in some groups never slows or hides the others (SQS scans only
/// its first 120,000 messages; Ferry scans nothing).
///
/// A min-heap (swift-collections' `Heap`) over (head sequence number, group) with lazy removal: `remove` only forgets the group's
/// entry in `current`, and stale heap items are skipped when they reach the top.
/// - Invariant: every group in `current` has exactly one live heap item, with the sequence stored there.
public struct ReadyIndex: Sendable {
    struct Item: Sendable, Comparable {
        var sequence: UInt64
        var group: String

        static func < (a: Item, b: Item) -> Bool { (a.sequence, a.group) < (b.sequence, b.group) }
    }

    private var heap = Heap<Item>()
    /// Each ready group's head sequence number.
    private(set) var current: [String: UInt64] = [:]

    public init() {}

    public var count: Int { current.count }
    public var isEmpty: Bool { current.isEmpty }

    public func contains(_ group: String) -> Bool { current[group] != nil }

    /// Marks `group` ready with its oldest message at `sequence` (replacing an earlier mark).
    public mutating func insert(_ group: String, headSequence sequence: UInt64) {
        if current[group] == sequence { return }
        current[group] = sequence
        heap.insert(Item(sequence: sequence, group: group))
        compactIfStale()
    }

    /// The group is no longer ready (its head is in flight, or it is empty).
    public mutating func remove(_ group: String) {
        current[group] = nil
        compactIfStale()
    }

    /// The ready group with the oldest head, without removing it.
    public mutating func first() -> (group: String, headSequence: UInt64)? {
        while let top = heap.min {
            if current[top.group] == top.sequence { return (top.group, top.sequence) }
            heap.removeMin()
        }
        return nil
    }

    /// Removes and returns the ready group with the oldest head.
    public mutating func popFirst() -> (group: String, headSequence: UInt64)? {
        guard let first = first() else { return nil }
        heap.removeMin()
        current[first.group] = nil
        return first
    }

    /// Rebuilds the heap when stale items outnumber live ones, so memory stays proportional to ready groups.
    private mutating func compactIfStale() {
        guard heap.count > 64 && heap.count > 2 * current.count else { return }
        heap = Heap(current.keys.sorted().map { Item(sequence: current[$0]!, group: $0) })
    }
}
