/// A double-ended queue kept in chunks of 4,096 elements, each chunk its own copy-on-write array (issue 19).
///
/// A snapshot copies the partition's state to encode it on another thread. With one buffer per collection, the
/// Raft thread's first change after that copied the whole collection: 2.5 million stored messages and their dedup
/// records, half a second in which the node sent nothing and its peers started elections. Here a copy shares
/// every chunk, and a change copies only the chunk it touches (and the array of chunk references).
///
/// Appends go to the last chunk, removals at the front advance `front` and drop whole chunks. Up to 4,095
/// removed elements stay in the first chunk until it is dropped: callers empty what they remove (a nil slot, a
/// key-less record) when holding it would matter.
/// - Invariants: every chunk but the last holds exactly `chunkSize` elements (the first counting those before
///   `front`); the last holds at least one; `front < chunkSize`; `count` is the elements from `front` on.
package struct ChunkedDeque<Element>: RandomAccessCollection, MutableCollection {
    package static var chunkShift: Int { 12 }
    package static var chunkSize: Int { 1 << chunkShift }
    package static var chunkMask: Int { chunkSize - 1 }

    private var chunks: [[Element]] = []
    /// The position in `chunks[0]` of element 0.
    private var front = 0
    package private(set) var count = 0

    package init() {}

    package init(repeating element: Element, count: Int) {
        precondition(count >= 0, "a negative count")
        var left = count
        while left > 0 {
            let size = Swift.min(left, Self.chunkSize)
            chunks.append(Array(repeating: element, count: size))
            left -= size
        }
        self.count = count
    }

    package init<S: Sequence>(_ elements: S) where S.Element == Element {
        for element in elements { append(element) }
    }

    package var startIndex: Int { 0 }
    package var endIndex: Int { count }

    package subscript(position: Int) -> Element {
        get {
            precondition(position >= 0 && position < count, "index \(position) out of 0..<\(count)")
            let at = front + position
            return chunks[at >> Self.chunkShift][at & Self.chunkMask]
        }
        set {
            precondition(position >= 0 && position < count, "index \(position) out of 0..<\(count)")
            let at = front + position
            chunks[at >> Self.chunkShift][at & Self.chunkMask] = newValue
        }
    }

    /// Room for `capacity` elements' chunk references (the chunks themselves are made as they fill).
    package mutating func reserveCapacity(_ capacity: Int) {
        chunks.reserveCapacity((front + capacity) / Self.chunkSize + 1)
    }

    package mutating func append(_ element: Element) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkSize {
            var chunk: [Element] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }

    /// Removes the first `k` elements; the chunks they filled are dropped.
    package mutating func removeFirst(_ k: Int) {
        precondition(k >= 0 && k <= count, "removing \(k) of \(count)")
        guard k > 0 else { return }
        count -= k
        guard count > 0 else {
            chunks = []
            front = 0
            return
        }
        front += k
        let dropped = front >> Self.chunkShift
        if dropped > 0 {
            chunks.removeFirst(dropped)
            front &= Self.chunkMask
        }
    }

    @discardableResult
    package mutating func removeFirst() -> Element {
        let element = self[0]
        removeFirst(1)
        return element
    }

    /// How many of this deque's chunks are the very buffers of `other`'s chunk at the same place (tests: a copy
    /// and its original share all but what was changed since).
    package func sharedChunks(with other: ChunkedDeque) -> Int {
        zip(chunks, other.chunks).filter { mine, theirs in
            mine.withUnsafeBufferPointer { a in theirs.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
        }.count
    }

    package var chunkCount: Int { chunks.count }

    /// Violations of the invariants above (for the owners' `invariantViolations`).
    package func invariantViolations(_ name: String) -> [String] {
        var problems: [String] = []
        for (position, chunk) in chunks.enumerated() where position < chunks.count - 1 && chunk.count != Self.chunkSize
        {
            problems.append("\(name): chunk \(position) of \(chunks.count) holds \(chunk.count)")
        }
        if let last = chunks.last, last.isEmpty { problems.append("\(name): an empty last chunk") }
        let held = chunks.reduce(0) { $0 + $1.count } - front
        if held != count || front >= Self.chunkSize || (chunks.isEmpty && front != 0) {
            problems.append("\(name): count \(count), front \(front), \(held) held")
        }
        return problems
    }
}

extension ChunkedDeque: Sendable where Element: Sendable {}
