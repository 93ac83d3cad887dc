import FerryClient
import FerryModel
import FerryRouter
import FerryWire
import NIOCore
import Testing

/// How one receive is spread over a queue's partitions and put back together (`PartitionRouter.plan`, `merge`).
@Suite struct ReceivePlanTests {
    func summary(_ count: Int, first: Int64? = nil, repeated: Int = 0) -> DeliverableSummary {
        DeliverableSummary(count: count, repeatedAttemptCount: repeated, firstAvailableAtMs: first)
    }

    /// FIFO: the partition whose first ready group became available first gives first, as much as it has.
    @Test func fifoPartitionsGiveInTheOrderOfTheirFirstReadyGroup() {
        let plan = PartitionRouter.plan(
            [0: summary(0), 1: summary(3, first: 500), 2: summary(1, first: 100), 3: summary(5, first: 900)],
            maxMessages: 5,
            fifo: true,
            rotation: 0
        )
        #expect(plan.map(\.partition) == [2, 1, 3])
        #expect(plan.map(\.count) == [1, 3, 1])
    }

    /// Never more than the batch: a partition with plenty gives the whole batch, nobody else is asked.
    @Test func aFullPartitionFillsTheBatchAlone() {
        let plan = PartitionRouter.plan(
            [0: summary(10, first: 1), 1: summary(10, first: 2)],
            maxMessages: 10,
            fifo: true,
            rotation: 1
        )
        #expect(plan.map(\.partition) == [0])
        #expect(plan.map(\.count) == [10])
        #expect(PartitionRouter.plan([0: summary(0), 1: summary(0)], maxMessages: 10, fifo: true, rotation: 0).isEmpty)
    }

    /// Standard: the rotation decides who gives first, so no partition is always last.
    @Test func standardPartitionsTakeTurnsGivingFirst() {
        let summaries: [UInt32: DeliverableSummary] = [0: summary(4), 1: summary(4), 2: summary(4)]
        #expect(PartitionRouter.plan(summaries, maxMessages: 6, fifo: false, rotation: 0).map(\.partition) == [0, 1])
        #expect(PartitionRouter.plan(summaries, maxMessages: 6, fifo: false, rotation: 1).map(\.partition) == [1, 2])
        #expect(PartitionRouter.plan(summaries, maxMessages: 6, fifo: false, rotation: 5).map(\.partition) == [2, 0])
    }

    /// A retried receive attempt asks only the partitions that remember it, for what they handed out.
    @Test func aRepeatedAttemptAsksOnlyThePartitionsThatRememberIt() {
        let plan = PartitionRouter.plan(
            [0: summary(7, first: 1), 1: summary(2, first: 9, repeated: 2), 2: summary(0, repeated: 1)],
            maxMessages: 10,
            fifo: true,
            rotation: 0
        )
        #expect(plan.map(\.partition) == [1, 2])
        #expect(plan.map(\.count) == [2, 1])
    }

    func delivery(_ group: String, _ index: UInt64, availableAt: Int64) -> Delivery {
        Delivery(
            handle: ReceiptHandle(position: MessagePosition(partition: 0, index: index, slot: 0), fencingToken: index),
            body: ByteBuffer(string: "\(group)-\(index)"),
            messageAttributes: ByteBuffer(),
            groupID: group,
            deduplicationID: nil,
            sentAtMs: availableAt,
            receiveCount: 1,
            firstReceiveAtMs: availableAt,
            visibleAgainAtMs: availableAt + 30_000,
            origin: nil,
            availableAtMs: availableAt
        )
    }

    /// FIFO: each partition's answer is runs of one group; runs are ordered across partitions by when their
    /// group's head became available, and a run is never split.
    @Test func fifoAnswersMergeByGroupAvailabilityKeepingEachGroupTogether() {
        let merged = PartitionRouter.merge(
            [
                (
                    0,
                    [
                        delivery("a", 1, availableAt: 300), delivery("a", 2, availableAt: 50),
                        delivery("c", 3, availableAt: 700),
                    ]
                ),
                (1, [delivery("b", 4, availableAt: 100)]),
            ],
            fifo: true
        )
        #expect(merged.map { String(buffer: $0.delivery.body) } == ["b-4", "a-1", "a-2", "c-3"])
        #expect(merged.map(\.partition) == [1, 0, 0, 0])
    }
}

@Suite struct ReceivePlanDeadlineTests {
    /// A partition whose deadline passed (a visibility of 0, say) may give more than it counted: the room left
    /// in the batch is shared among such partitions, and the shares never exceed the batch.
    @Test func roomLeftIsSharedAmongPartitionsWithAPassedDeadline() {
        let summaries: [UInt32: DeliverableSummary] = [
            0: DeliverableSummary(count: 1, repeatedAttemptCount: 0, firstAvailableAtMs: 10),
            1: DeliverableSummary(count: 0, repeatedAttemptCount: 0, firstAvailableAtMs: nil, pendingDeadline: true),
            2: DeliverableSummary(count: 0, repeatedAttemptCount: 0, firstAvailableAtMs: nil, pendingDeadline: true),
            3: DeliverableSummary(count: 0, repeatedAttemptCount: 0, firstAvailableAtMs: nil),
        ]
        let plan = PartitionRouter.plan(summaries, maxMessages: 10, fifo: true, rotation: 0)
        #expect(plan.map(\.partition) == [0, 1, 2])
        #expect(plan.map(\.count) == [1, 5, 4])
        #expect(PartitionRouter.plan(summaries, maxMessages: 1, fifo: true, rotation: 0).map(\.count) == [1])
    }
}
