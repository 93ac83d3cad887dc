/// The FIFO groups that can hand out a message now, oldest head first: a receive takes the groups it needs
/// from the front in O(log n) each, so a backlog in some groups never slows or hides the others (SQS scans only
/// its first 120,000 messages; Ferry scans nothing).
///
/// A binary min-heap over (head sequence number, group) with lazy removal: `remove` only forgets the group's
/// entry in `current`, and stale heap items are skipped when they reach the top.
/// - Invariant: every group in `current` has exactly one live heap item, with the sequence stored there.
public struct ReadyIndex: Sendable {
    struct Item: Sendable {
        var sequence: UInt64
        var group: String
    }

    private var heap: [Item] = []
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
        heap.append(Item(sequence: sequence, group: group))
        siftUp(heap.count - 1)
        compactIfStale()
    }

    /// The group is no longer ready (its head is in flight, or it is empty).
    public mutating func remove(_ group: String) {
        current[group] = nil
        compactIfStale()
    }

    /// The ready group with the oldest head, without removing it.
    public mutating func first() -> (group: String, headSequence: UInt64)? {
        while let top = heap.first {
            if current[top.group] == top.sequence { return (top.group, top.sequence) }
            popTop()
        }
        return nil
    }

    /// Removes and returns the ready group with the oldest head.
    public mutating func popFirst() -> (group: String, headSequence: UInt64)? {
        guard let first = first() else { return nil }
        popTop()
        current[first.group] = nil
        return first
    }

    /// Rebuilds the heap when stale items outnumber live ones, so memory stays proportional to ready groups.
    private mutating func compactIfStale() {
        guard heap.count > 64 && heap.count > 2 * current.count else { return }
        heap = current.keys.sorted().map { Item(sequence: current[$0]!, group: $0) }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    private mutating func popTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        (heap[a].sequence, heap[a].group) < (heap[b].sequence, heap[b].group)
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && less(left, smallest) { smallest = left }
            if right < heap.count && less(right, smallest) { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
