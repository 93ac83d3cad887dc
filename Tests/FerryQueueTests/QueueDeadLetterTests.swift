import FerryModel
import FerryQueue
import NIOCore
import Testing

@Suite struct QueueDeadLetterTests {
    static func source(maxReceiveCount: Int = 2) -> QueueHarness {
        QueueHarness {
            $0.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: maxReceiveCount)
        }
    }

    @Test func theReceiveThatWouldExceedMaxReceiveCountMovesTheMessage() {
        var queue = Self.source()
        queue.send("a0", group: "A")
        queue.send("a1", group: "A")
        for _ in 0..<2 {
            #expect(queue.receiveBodies(1, visibility: 1) == ["a0"])
            queue.advance(seconds: 1)
        }
        let third = queue.receive(1).success!
        #expect(
            third.deadLettered.map(\.sequenceNumber) == [
                queue.partition.pendingMoves()[0].request.origin!.position.sequenceNumber
            ]
        )
        #expect(
            third.deliveries.map { QueueHarness.text($0.body) } == ["a1"],
            "the group goes on with its next message"
        )
        let move = queue.partition.pendingMoves()[0]
        #expect(move.destination == "orders-dlq.fifo")
        #expect(move.request.groupID == "A")
        #expect(move.request.origin?.receiveCount == 2)
        #expect(move.request.origin?.moveCount == 1)
        #expect(queue.partition.statistics.deadLettered == 1)
    }

    @Test func theOutboxKeepsMovesUntilAcknowledgedInOrder() {
        var queue = Self.source(maxReceiveCount: 1)
        for n in 0..<3 { queue.send("a\(n)", group: "A") }
        _ = queue.receiveBodies(3, visibility: 1)
        queue.advance(seconds: 1)
        #expect(queue.receiveBodies(3) == [])
        let moves = queue.partition.pendingMoves()
        #expect(moves.map { QueueHarness.text($0.request.body) } == ["a0", "a1", "a2"])
        #expect(queue.apply(.acknowledgeMoves([moves[0].id, 999])) == .movesAcknowledged(1))
        #expect(
            queue.apply(.acknowledgeMoves([moves[0].id])) == .movesAcknowledged(0),
            "acknowledging twice is harmless"
        )
        #expect(queue.partition.pendingMoves().map(\.id) == [moves[1].id, moves[2].id])
    }

    @Test func theDestinationTakesAMoveInExactlyOnceHoweverOftenItIsRepeated() {
        var source = Self.source(maxReceiveCount: 1)
        source.send("a0", group: "A")
        _ = source.receiveBodies(1, visibility: 1)
        source.advance(seconds: 1)
        _ = source.receiveBodies()
        let move = source.partition.pendingMoves()[0]
        var dlq = QueueHarness("orders-dlq.fifo")
        guard case .sent(let first) = dlq.apply(.send([move.request])) else { return #expect(Bool(false)) }
        // The source leader crashed before it learned of the commit: it sends the move again, much later.
        dlq.advance(seconds: 86_400)
        guard case .sent(let again) = dlq.apply(.send([move.request])) else { return #expect(Bool(false)) }
        #expect(again == [.success(.duplicate(first[0].success!.position!))])
        let delivered = dlq.receive().success!.deliveries
        #expect(delivered.count == 1 && delivered[0].origin?.sourceQueue == "orders.fifo")
        #expect(delivered[0].groupID == "A")
    }

    @Test func aRedriveMovesOldestFirstAtItsRateAndCompletes() {
        var dlq = QueueHarness("orders-dlq.fifo")
        for n in 0..<6 { dlq.apply(.send([Self.moved("d\(n)", from: "orders.fifo", index: UInt64(n + 1))])) }
        guard
            case .moveTaskStarted(let started) = dlq.apply(
                .startMoveTask(MoveTaskRequest(taskID: "t1", maxMessagesPerSecond: 2))
            )
        else {
            return #expect(Bool(false))
        }
        #expect(started.messagesToMove == 6)
        dlq.apply(.send([Self.moved("after-start", from: "orders.fifo", index: 100)]))
        dlq.advance(seconds: 1)
        #expect(dlq.partition.pendingMoves().map { QueueHarness.text($0.request.body) } == ["d0", "d1"])
        #expect(
            dlq.partition.pendingMoves().allSatisfy {
                $0.destination == "orders.fifo" && $0.reason == .redrive(taskID: "t1")
            }
        )
        dlq.advance(seconds: 2)
        #expect(dlq.partition.moveTasks.first?.state == .completed)
        #expect(dlq.partition.moveTasks.first?.messagesMoved == 6)
        #expect(dlq.partition.statistics.visible == 1, "a message that arrived after the start stays")
        #expect(dlq.partition.pendingMoves().allSatisfy { $0.request.origin?.moveCount == 2 })
    }

    @Test func aRedriveCanBeCancelledAndOnlyOneRunsAtATime() {
        var dlq = QueueHarness("orders-dlq.fifo")
        for n in 0..<10 { dlq.apply(.send([Self.moved("d\(n)", from: "orders.fifo", index: UInt64(n + 1))])) }
        dlq.apply(.startMoveTask(MoveTaskRequest(taskID: "t1", destination: "other.fifo", maxMessagesPerSecond: 1)))
        #expect(
            dlq.apply(.startMoveTask(MoveTaskRequest(taskID: "t2"))) == .rejected(.moveTaskAlreadyRunning(taskID: "t1"))
        )
        dlq.advance(seconds: 2)
        guard case .moveTaskCancelled(let status) = dlq.apply(.cancelMoveTask(taskID: "t1")) else {
            return #expect(Bool(false))
        }
        #expect(status.state == .cancelled && status.messagesMoved == 2)
        dlq.advance(seconds: 5)
        #expect(dlq.partition.pendingMoves().count == 2)
        #expect(dlq.apply(.cancelMoveTask(taskID: "t1")) == .rejected(.moveTaskNotFound(taskID: "t1")))
        guard
            case .rejected(.invalidParameter) = dlq.apply(
                .startMoveTask(MoveTaskRequest(taskID: "t3", destination: "standard-queue"))
            )
        else {
            return #expect(Bool(false))
        }
    }

    /// Automatic dead-lettering stops after `maxMessageMoves` (a DLQ–redrive loop ends), but the message is not
    /// lost from sight: it is counted (`movesExhausted`, `ferry queue attributes`, a metric), and an operator's
    /// redrive (a move task) still moves it (issue 18).
    @Test func aMessageMovedTooOftenIsNotLoopedForeverYetStaysVisibleAndRedrivable() {
        var dlq = QueueHarness("orders-dlq.fifo")
        dlq.apply(
            .send([Self.moved("tired", from: "orders.fifo", index: 1, moveCount: UInt16(QueueLimits.maxMessageMoves))])
        )
        dlq.apply(.send([Self.moved("fresh", from: "orders.fifo", index: 2)]))
        dlq.apply(.startMoveTask(MoveTaskRequest(taskID: "t1")))
        dlq.advance(seconds: 1)
        #expect(dlq.partition.pendingMoves().map { QueueHarness.text($0.request.body) } == ["tired", "fresh"])
        #expect(dlq.partition.moveTasks.first?.messagesSkipped == 0)
        #expect(
            dlq.partition.pendingMoves().first?.request.origin?.moveCount == UInt16(QueueLimits.maxMessageMoves) + 1
        )
        // Dead-lettering stops: the message stays, is delivered, and is counted.
        var looping = QueueHarness {
            $0.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: 1)
        }
        looping.apply(
            .send([
                Self.moved("tired", from: "orders-dlq.fifo", index: 1, moveCount: UInt16(QueueLimits.maxMessageMoves))
            ])
        )
        #expect(looping.partition.statistics.movesExhausted == 0)
        _ = looping.receiveBodies(1, visibility: 1)
        #expect(looping.partition.statistics.movesExhausted == 1)
        looping.advance(seconds: 1)
        #expect(looping.receiveBodies(1, visibility: 1) == ["tired"])
        looping.apply(.startMoveTask(MoveTaskRequest(taskID: "out", destination: "orders-dlq.fifo")))
        looping.advance(seconds: 2)
        #expect(looping.partition.pendingMoves().map { QueueHarness.text($0.request.body) } == ["tired"])
        #expect(looping.partition.statistics.movesExhausted == 0)
    }

    /// A dead-letter move whose destination never takes it (the DLQ deleted, its partition down for weeks) is
    /// sent again for as long as it takes: never dropped after a deadline (issue 18; it used to go after the
    /// 14-day move-record window, counted as abandoned).
    @Test func anUnacknowledgedMoveIsKeptForever() {
        var source = QueueHarness {
            $0.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: 1)
        }
        source.apply(.send([SendRequest(body: QueueHarness.body("poison"), groupID: "A", deduplicationID: "p")]))
        _ = source.receiveBodies(1, visibility: 1)
        source.advance(seconds: 2)
        _ = source.receiveBodies(1, visibility: 1)
        #expect(source.partition.pendingMoves().count == 1)
        source.advance(seconds: Double(QueueLimits.moveRecordRetentionMs / 1_000 * 3))
        #expect(source.partition.pendingMoves().map { QueueHarness.text($0.request.body) } == ["poison"])
        #expect(source.partition.statistics.outbox == 1)
    }

    static func moved(_ text: String, from source: String, index: UInt64, moveCount: UInt16 = 1) -> SendRequest {
        SendRequest(
            body: QueueHarness.body(text),
            groupID: "A",
            deduplicationID: text,
            origin: MoveOrigin(
                sourceQueueID: 7,
                sourceQueue: source,
                position: MessagePosition(partition: 0, index: index, slot: 0),
                moveCount: moveCount,
                receiveCount: 3
            )
        )
    }
}
