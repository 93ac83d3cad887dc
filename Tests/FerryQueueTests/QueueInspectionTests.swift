import FerryModel
import FerryQueue
import Testing

/// What the console reads of a partition without changing it: a peek at its messages and its FIFO groups with a
/// backlog (issue 20).
@Suite struct QueueInspectionTests {
    @Test func aPeekChangesNothingAndItsHandlesDeleteNothing() {
        var queue = QueueHarness()
        queue.send("a1", group: "a")
        queue.send("a2", group: "a")
        queue.send("b1", group: "b")
        let received = (try? queue.receive(1, visibility: 30).get())?.deliveries ?? []
        #expect(received.count == 1)
        let before = queue.partition.statistics
        let peeked = queue.partition.peek(limit: 10)
        #expect(peeked.map { QueueHarness.text($0.body) } == ["a1", "a2", "b1"])
        #expect(peeked.map(\.receiveCount) == [1, 0, 0])
        // The deadline of the message in flight; 0 for the others.
        #expect(peeked[0].visibleAgainAtMs > 0 && peeked[1].visibleAgainAtMs == 0 && peeked[2].visibleAgainAtMs == 0)
        #expect(peeked.allSatisfy { $0.handle.fencingToken == 0 })
        #expect(queue.partition.statistics == before)
        #expect(queue.partition.peek(limit: 2).count == 2)
        // A peeked handle deletes nothing, also of the message in flight; the receive's handle still does.
        guard case .deleted(let results) = queue.apply(.delete(peeked.map(\.handle))) else {
            Issue.record("delete not answered")
            return
        }
        #expect(results.allSatisfy { if case .failure(.invalidReceiptHandle) = $0 { true } else { false } })
        #expect(queue.partition.statistics == before)
        guard case .deleted(let deleted) = queue.apply(.delete(received.map(\.handle))) else { return }
        #expect(deleted.allSatisfy { if case .success(.deleted) = $0 { true } else { false } })
    }

    @Test func theBacklogListsTheLargestGroupsFirst() {
        var queue = QueueHarness()
        for message in ["c1", "c2", "c3"] { queue.send(message, group: "c") }
        queue.advance(seconds: 1)
        for message in ["a1", "a2"] { queue.send(message, group: "a") }
        queue.send("b1", group: "b")
        queue.advance(seconds: 1)
        queue.send("d1", group: "d")
        _ = queue.receive(1, visibility: 30)  // c1: group c is blocked
        let backlog = queue.partition.groupBacklog(limit: 10)
        #expect(backlog.map(\.groupID) == ["c", "a", "b", "d"])
        #expect(backlog.map(\.messages) == [3, 2, 1, 1])
        #expect(backlog.map(\.inFlight) == [1, 0, 0, 0])
        #expect(backlog[0].oldestSentAtMs == 1_000_000 && backlog[3].oldestSentAtMs == 1_002_000)
        #expect(queue.partition.groupBacklog(limit: 2).map(\.groupID) == ["c", "a"])
    }
}
