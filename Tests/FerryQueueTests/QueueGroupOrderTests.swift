import FerryModel
import FerryQueue
import Testing

/// SQS's order of FIFO groups, as AWS answered LocalStack's recorded tests (`test_fifo_*`): the group whose
/// head became available first comes first, a head that came back from in flight counting from when it came back.
@Suite struct QueueGroupOrderTests {
    /// `test_fifo_receive_message_group_id_ordering`: several messages of a group in order, then other groups.
    @Test func aBatchTakesAGroupInOrderThenTheNextGroup() {
        var queue = QueueHarness()
        queue.send("g1-m1", group: "group-1")
        queue.send("g2-m1", group: "group-2")
        queue.send("g1-m2", group: "group-1")
        queue.send("g1-m3", group: "group-1")
        #expect(queue.receiveBodies(10) == ["g1-m1", "g1-m2", "g1-m3", "g2-m1"])
    }

    /// `test_fifo_receive_message_with_zero_visibility_timeout`: groups that came back go behind one that waited.
    @Test func groupsThatCameBackGoBehindAGroupThatWaited() {
        var queue = QueueHarness()
        queue.send("g1-m1", group: "group-1")
        queue.send("g2-m1", group: "group-2")
        queue.send("g2-m2", group: "group-2")
        queue.send("g3-m1", group: "group-3")
        queue.send("g1-m2", group: "group-1")
        queue.advance(seconds: 1)
        #expect(queue.receiveBodies(3, visibility: 0) == ["g1-m1", "g1-m2", "g2-m1"])
        #expect(queue.receiveBodies(10, visibility: 0) == ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"])
    }

    /// `test_fifo_receive_message_visibility_timeout_shared_in_group`: after the timeout the groups that were
    /// received come back behind the one that was not, in the order they came back.
    @Test func groupsComeBackInTheOrderTheirVisibilityEnded() {
        var queue = QueueHarness()
        for message in ["g1-m1", "g1-m2", "g1-m3", "g1-m4"] { queue.send(message, group: "group-1") }
        queue.send("g2-m1", group: "group-2")
        queue.send("g3-m1", group: "group-3")
        #expect(queue.receiveBodies(2, visibility: 1) == ["g1-m1", "g1-m2"])
        queue.advance(seconds: 0.5)
        #expect(queue.receiveBodies(1, visibility: 1) == ["g2-m1"])
        queue.advance(seconds: 2)
        #expect(
            queue.receiveBodies(10, visibility: 0) == ["g3-m1", "g1-m1", "g1-m2", "g1-m3", "g1-m4", "g2-m1"]
        )
    }

    /// `test_fifo_message_group_visibility_after_delete`: a group whose delivered messages were deleted is
    /// placed by its next message's send.
    @Test func aGroupWhoseHeadWasDeletedKeepsItsNextMessagesPlace() {
        var queue = QueueHarness()
        queue.send("g1-m1", group: "group-1")
        queue.send("g2-m1", group: "group-2")
        queue.send("g1-m2", group: "group-1")
        queue.send("g2-m2", group: "group-2")
        queue.send("g1-m3", group: "group-1")
        queue.send("g1-m4", group: "group-1")
        queue.send("g3-m1", group: "group-3")
        let batch = queue.receive(2).success!.deliveries
        #expect(batch.map { QueueHarness.text($0.body) } == ["g1-m1", "g1-m2"])
        #expect(queue.delete(batch.map(\.handle)) == [.success(.deleted), .success(.deleted)])
        #expect(queue.receiveBodies(10) == ["g2-m1", "g2-m2", "g1-m3", "g1-m4", "g3-m1"])
    }

    @Test func deliveriesCarryWhenTheirMessageBecameAvailable() {
        var queue = QueueHarness()
        let sentAt = queue.clockMs
        queue.send("a")
        #expect(queue.receive(1, visibility: 1).success!.deliveries[0].availableAtMs == sentAt)
        queue.advance(seconds: 3)
        // Back when its visibility ended (1 s after the receive), not when the time entry noticed.
        #expect(queue.receive(1).success!.deliveries[0].availableAtMs == sentAt + 1_000)
    }

    @Test func theSummaryCountsWhatAReceiveWouldHandOutWithoutChangingAnything() {
        var queue = QueueHarness()
        queue.send("a1", group: "A")
        queue.send("a2", group: "A")
        queue.send("b1", group: "B")
        let before = queue.partition.snapshot()
        #expect(queue.partition.deliverableSummary(limit: 10).count == 3)
        #expect(queue.partition.deliverableSummary(limit: 2).count == 2)
        #expect(queue.partition.snapshot() == before)
        let first = queue.receive(1, attempt: "attempt-1").success!.deliveries
        #expect(first.map { QueueHarness.text($0.body) } == ["a1"])
        // Group A is in flight: only B can be handed out; the attempt's batch is remembered.
        let summary = queue.partition.deliverableSummary(limit: 10, requestAttemptID: "attempt-1")
        #expect(summary.count == 1)
        #expect(summary.repeatedAttemptCount == 1)
        #expect(queue.partition.deliverableSummary(limit: 10, requestAttemptID: "other").repeatedAttemptCount == 0)
    }
}

@Suite struct DeliverableSummaryTests {
    /// A visibility of 0 ends at once, but only an entry applies it: until then the summary says a deadline
    /// passed, so a client still asks the partition (its receive applies the deadline first).
    @Test func aPassedDeadlineNoEntryAppliedIsReported() {
        var queue = QueueHarness()
        queue.send("a")
        #expect(queue.receiveBodies(1, visibility: 0) == ["a"])
        let summary = queue.partition.deliverableSummary(limit: 10, atMs: queue.clockMs)
        #expect(summary.count == 0)
        #expect(summary.pendingDeadline)
        #expect(summary.mayDeliver)
        #expect(queue.receiveBodies(1) == ["a"])
        #expect(!queue.partition.deliverableSummary(limit: 10, atMs: queue.clockMs).pendingDeadline)
    }
}
