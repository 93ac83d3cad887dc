import FerryModel
import FerryQueue
import FerryRaft
import Testing

/// The chunked deque under the message store and the dedup window (issue 19): it behaves as an array does, and a
/// copy (a snapshot's) is unshared one chunk at a time, never as a whole.
@Suite struct ChunkedDequeTests {
    @Test(arguments: [1, 2, 3, 4]) func itDoesWhatAnArrayDoes(seed: UInt64) {
        var random = Xoshiro256(seed: seed)
        var deque = ChunkedDeque<Int>()
        var model: [Int] = []
        var next = 0
        for _ in 0..<3_000 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:
                for _ in 0..<Int.random(in: 1...3_000, using: &random) {
                    deque.append(next)
                    model.append(next)
                    next += 1
                }
            case 5..<8:
                let k = Int.random(in: 0...min(model.count, 5_000), using: &random)
                deque.removeFirst(k)
                model.removeFirst(k)
            case 8:
                guard !model.isEmpty else { continue }
                let at = Int.random(in: 0..<model.count, using: &random)
                deque[at] = -at
                model[at] = -at
            default:
                if !model.isEmpty { #expect(deque.removeFirst() == model.removeFirst()) }
            }
            #expect(deque.count == model.count)
            #expect(deque.invariantViolations("deque") == [])
        }
        #expect(Array(deque) == model)
        #expect(deque.first == model.first && deque.last == model.last)
        #expect(Array(ChunkedDeque(repeating: 7, count: 10_000)) == Array(repeating: 7, count: 10_000))
    }

    @Test func aCopyIsUnsharedOneChunkAtATime() {
        let size = ChunkedDeque<UInt64>.chunkSize
        var original = ChunkedDeque<UInt64>()
        for value in 0..<UInt64(20 * size) { original.append(value) }
        var copy = original
        #expect(copy.sharedChunks(with: original) == 20)
        copy[5 * size + 3] = 0
        #expect(copy.sharedChunks(with: original) == 19, "a change copies its chunk only")
        copy.append(1)
        #expect(copy.sharedChunks(with: original) == 19, "an append goes to a new chunk")
        copy.removeFirst(size + 1)
        #expect(copy.sharedChunks(with: original) == 0, "after removal the chunks sit at other places")
        #expect(original[5 * size + 3] == UInt64(5 * size + 3), "the original is unchanged")
        #expect(original.count == 20 * size)
    }

    /// A partition holding 50,000 messages: after a snapshot's copy, a send, a receive and a delete unshare a few
    /// chunks of its message store and dedup window, not their whole.
    @Test func aChangeAfterASnapshotCopyUnsharesAFewChunks() throws {
        var queue = QueueHarness()
        for batch in 0..<500 { queue.apply(.send(QueueMemoryTests.requests(100, prefix: "b\(batch)"))) }
        let snapshotCopy = queue.partition
        let before = queue.partition.chunks(sharedWith: snapshotCopy)
        #expect(before.shared == before.total && before.total > 40, "\(before)")
        queue.apply(.send(QueueMemoryTests.requests(10, prefix: "after")))
        guard case .success(let outcome) = queue.receive(10) else { throw QueueError.emptyBatch }
        #expect(queue.delete(outcome.deliveries.map(\.handle)).allSatisfy { (try? $0.get()) != nil })
        let after = queue.partition.chunks(sharedWith: snapshotCopy)
        // Each send touches the last chunk of four collections and one chunk of the dedup index, where its key
        // hashes; the receive and the delete touch the front chunk of the slots.
        #expect(after.total - after.shared <= 16, "\(after.total - after.shared) of \(after.total) chunks copied")
        #expect(snapshotCopy.invariantViolations() == [] && queue.partition.invariantViolations() == [])
    }
}
