import HeapModule

/// Timed events in order. Ties break by insertion order, so a run is a pure function of its seed.
struct EventQueue<Event> {
    private struct Item: Comparable {
        var time: UInt64
        var sequence: UInt64
        var event: Event

        static func < (a: Item, b: Item) -> Bool { (a.time, a.sequence) < (b.time, b.sequence) }
        static func == (a: Item, b: Item) -> Bool { (a.time, a.sequence) == (b.time, b.sequence) }
    }

    private var heap = Heap<Item>()
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func schedule(_ event: Event, at time: UInt64) {
        heap.insert(Item(time: time, sequence: nextSequence, event: event))
        nextSequence += 1
    }

    mutating func pop() -> (time: UInt64, event: Event)? {
        heap.popMin().map { ($0.time, $0.event) }
    }
}
