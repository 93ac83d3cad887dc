/// The live messages of a partition by sequence number, in send order (issue 19).
///
/// Messages arrive in increasing sequence order and leave in any order, mostly oldest first. They are kept in two
/// parallel chunked deques sorted by sequence number, `sequences` and `slots` (nil once removed), and found by
/// bisection (a snapshot's copy shares their chunks; a change copies the chunk it touches): a message costs its
/// own size plus 8 bytes, where a dictionary kept 1.3 to 2.7 buckets per message and was the largest thing in a
/// node's memory with a deep queue (a bucket per message and a half, 192 bytes each).
///
/// A removal only empties its slot, so positions (`index(atOrAfter:)`, `sequence(at:)`) stay valid within a
/// command; `compact()` (once per entry) drops the empty slots at the front, and all of them once they outnumber
/// the live ones, so memory follows the live backlog at amortized O(1) per removal.
/// - Invariants: `sequences` is strictly increasing and as long as `slots`; `count` is the number of non-nil
///   slots; every slot before `head` is nil.
struct MessageStore: Sendable, Sequence {
    typealias Element = (key: UInt64, value: QueuePartition.StoredMessage)

    private var sequences = ChunkedDeque<UInt64>()
    private var slots = ChunkedDeque<QueuePartition.StoredMessage?>()
    /// No live slot is before this position (removals at the front move it on lazily).
    private var head = 0
    private(set) var count = 0

    mutating func reserveCapacity(_ capacity: Int) {
        sequences.reserveCapacity(capacity)
        slots.reserveCapacity(capacity)
    }

    /// The position of the first slot whose sequence number is `sequence` or above (`endIndex` if none).
    func index(atOrAfter sequence: UInt64) -> Int {
        var low = head
        var high = sequences.count
        while low < high {
            let middle = (low + high) / 2
            if sequences[middle] < sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    var endIndex: Int { sequences.count }

    func sequence(at position: Int) -> UInt64 { sequences[position] }

    private func slot(of sequence: UInt64) -> Int? {
        let position = index(atOrAfter: sequence)
        return position < sequences.count && sequences[position] == sequence ? position : nil
    }

    /// The live message with this sequence number. Setting nil removes it; setting a message on an absent
    /// sequence number adds it, which must then be above every sequence number held.
    subscript(sequence: UInt64) -> QueuePartition.StoredMessage? {
        get { slot(of: sequence).flatMap { slots[$0] } }
        set {
            if let position = slot(of: sequence) {
                switch (slots[position] != nil, newValue != nil) {
                case (true, false): count -= 1
                case (false, true): count += 1
                default: break
                }
                slots[position] = newValue
            } else if let newValue {
                append(sequence, newValue)
            }
        }
    }

    /// Adds a message above every sequence number held (a send, a restore): no search.
    mutating func append(_ sequence: UInt64, _ message: QueuePartition.StoredMessage) {
        precondition(sequences.last.map { $0 < sequence } ?? true, "message \(sequence) added out of order")
        sequences.append(sequence)
        slots.append(message)
        count += 1
    }

    /// Removes the live message with this sequence number and returns it.
    mutating func removeValue(forKey sequence: UInt64) -> QueuePartition.StoredMessage? {
        guard let position = slot(of: sequence), let message = slots[position] else { return nil }
        slots[position] = nil
        count -= 1
        return message
    }

    /// The oldest live message.
    mutating func first() -> Element? {
        while head < slots.count {
            if let message = slots[head] { return (sequences[head], message) }
            head += 1
        }
        return nil
    }

    /// The oldest live message, without moving `head` on (O(1) between entries: `compact()` leaves a live front).
    var oldest: Element? {
        var iterator = makeIterator()
        return iterator.next()
    }

    /// Drops empty slots: those at the front always, all of them when they outnumber the live messages.
    /// Invalidates positions.
    mutating func compact() {
        _ = first()
        if head > 0 {
            sequences.removeFirst(head)
            slots.removeFirst(head)
            head = 0
        }
        guard slots.count > 64 && slots.count > 2 * count else { return }
        var keptSequences = ChunkedDeque<UInt64>()
        var keptSlots = ChunkedDeque<QueuePartition.StoredMessage?>()
        keptSequences.reserveCapacity(count)
        keptSlots.reserveCapacity(count)
        for (sequence, message) in self {
            keptSequences.append(sequence)
            keptSlots.append(message)
        }
        sequences = keptSequences
        slots = keptSlots
    }

    mutating func removeAll() { self = MessageStore() }

    /// The live messages in sequence order.
    func makeIterator() -> Iterator { Iterator(store: self, position: head) }

    struct Iterator: IteratorProtocol {
        let store: MessageStore
        var position: Int

        mutating func next() -> Element? {
            while position < store.slots.count {
                defer { position += 1 }
                if let message = store.slots[position] { return (store.sequences[position], message) }
            }
            return nil
        }
    }

    var values: LazyMapSequence<MessageStore, QueuePartition.StoredMessage> { lazy.map(\.value) }

    /// How many chunks of this store are shared with `other`, of how many (tests of copy-on-write per chunk).
    func chunks(sharedWith other: MessageStore) -> (shared: Int, total: Int) {
        (
            sequences.sharedChunks(with: other.sequences) + slots.sharedChunks(with: other.slots),
            sequences.chunkCount + slots.chunkCount
        )
    }

    /// Violations of the invariants above (O(n), for `QueuePartition.invariantViolations`).
    func invariantViolations() -> [String] {
        var problems: [String] = []
        if sequences.count != slots.count { problems.append("message store: \(sequences.count) sequence numbers") }
        for position in sequences.indices.dropFirst() where sequences[position - 1] >= sequences[position] {
            problems.append("message store: sequence numbers not increasing at \(sequences[position])")
        }
        if slots.compactMap({ $0 }).count != count { problems.append("message store: count \(count) is wrong") }
        if slots.prefix(head).contains(where: { $0 != nil }) { problems.append("message store: live before head") }
        return problems + sequences.invariantViolations("message store sequences")
            + slots.invariantViolations("message store slots")
    }
}
