import FerryModel
import FerryQueue
import NIOCore
import Testing

/// A seeded stream of every kind of command, with handles taken from earlier results (some stale on purpose).
struct CommandStream {
    var state: UInt64
    var handles: [ReceiptHandle] = []
    var moveIDs: [UInt64] = []
    var producerSequence: UInt64 = 0
    let fifo: Bool

    init(seed: UInt64, fifo: Bool) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        self.fifo = fifo
    }

    mutating func next(_ bound: Int) -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(bound))
    }

    mutating func command(attributes: QueueAttributes) -> (advanceMs: Int64, command: QueueCommand) {
        let advance = Int64(next(4) == 0 ? next(40_000) : next(500))
        switch next(20) {
        case 0..<7:
            let requests = (0..<(1 + next(3))).map { _ -> SendRequest in
                let dedup = "d\(next(60))"
                var request = SendRequest(
                    body: QueueHarness.body("m\(next(1_000))"),
                    groupID: fifo ? "g\(next(5))" : nil,
                    deduplicationID: fifo ? dedup : nil
                )
                if next(3) == 0 {
                    request.producer = ProducerStamp(producerID: 1, epoch: 0, sequence: producerSequence)
                    producerSequence += next(5) == 0 ? 0 : 1
                }
                return request
            }
            return (advance, .send(requests))
        case 7..<11:
            let requests = (0..<(1 + next(2))).map { _ in
                ReceiveRequest(
                    maxMessages: 1 + next(10),
                    visibilityTimeoutSeconds: next(2) == 0 ? nil : next(20),
                    requestAttemptID: next(4) == 0 ? "att\(next(3))" : nil
                )
            }
            return (advance, .receive(requests))
        case 11..<14 where !handles.isEmpty:
            let picks = (0..<(1 + next(3))).map { _ in handles[next(handles.count)] }
            return (advance, .delete(picks))
        case 14 where !handles.isEmpty:
            let change = VisibilityChange(handle: handles[next(handles.count)], visibilityTimeoutSeconds: next(30))
            return (advance, .changeVisibility([change]))
        case 15:
            var changed = attributes
            changed.redrivePolicy =
                next(2) == 0
                ? nil : RedrivePolicy(deadLetterQueue: fifo ? "dlq.fifo" : "dlq", maxReceiveCount: 1 + next(3))
            changed.retentionSeconds = next(3) == 0 ? 60 : 345_600
            return (advance, .setAttributes(changed))
        case 16 where !moveIDs.isEmpty:
            return (advance, .acknowledgeMoves([moveIDs[next(moveIDs.count)]]))
        case 17:
            return (advance, next(6) == 0 ? .purge : .advanceTime)
        case 18:
            return (
                advance,
                .startMoveTask(
                    MoveTaskRequest(
                        taskID: "t\(next(3))",
                        destination: fifo ? "back.fifo" : "back",
                        maxMessagesPerSecond: 1 + next(5)
                    )
                )
            )
        case 19:
            return (advance, .cancelMoveTask(taskID: "t\(next(3))"))
        default:
            return (advance, .advanceTime)
        }
    }

    mutating func observe(_ result: QueueResult, outbox: [OutboxMove]) {
        if case .received(let outcomes) = result {
            for outcome in outcomes { handles += outcome.success?.deliveries.map(\.handle) ?? [] }
            if handles.count > 50 { handles.removeFirst(handles.count - 50) }
        }
        moveIDs = outbox.map(\.id)
    }
}

@Suite struct QueueSnapshotTests {
    /// Snapshot → restore → the same bytes, and from there the same answers to the same commands.
    @Test(arguments: [(1, true), (2, true), (3, false), (4, true), (5, false), (6, true)])
    func restoredPartitionAnswersLikeTheOriginal(seed: Int, fifo: Bool) throws {
        var original = QueueHarness(fifo ? "orders.fifo" : "orders") { $0.dedupWindowMs = 20_000 }
        var stream = CommandStream(seed: UInt64(seed), fifo: fifo)
        var restored: QueuePartition?
        for step in 0..<1_500 {
            let (advance, command) = stream.command(attributes: original.partition.attributes)
            original.clockMs += advance
            if step % 300 == 150 {
                let bytes = original.partition.snapshot()
                let copy = try QueuePartition.restore(from: bytes)
                #expect(copy.snapshot() == bytes)
                #expect(copy.invariantViolations() == [])
                restored = copy
            }
            let result = original.apply(command)
            if var replica = restored {
                let entry = QueueEntry(timestampMs: original.clockMs, command: command)
                let replicaResult = replica.apply(index: original.index, entry: entry)
                #expect(replicaResult == result, "step \(step): \(command)")
                #expect(replica.statistics == original.partition.statistics)
                restored = replica
            }
            stream.observe(result, outbox: original.partition.pendingMoves())
        }
        #expect(original.partition.statistics.sent > 0)
        #expect(original.partition.statistics.received > 0)
        #expect(original.partition.statistics.deleted > 0)
        #expect(restored?.snapshot() == original.partition.snapshot())
    }

    /// Any damage to snapshot bytes gives a typed error or a valid state, never a trap.
    @Test func damagedSnapshotsDecodeOrThrow() {
        var queue = QueueHarness { $0.redrivePolicy = RedrivePolicy(deadLetterQueue: "dlq.fifo", maxReceiveCount: 1) }
        var stream = CommandStream(seed: 11, fifo: true)
        for _ in 0..<300 {
            let (advance, command) = stream.command(attributes: queue.partition.attributes)
            queue.clockMs += advance
            stream.observe(queue.apply(command), outbox: queue.partition.pendingMoves())
        }
        let bytes = queue.partition.snapshot()
        for cut in stride(from: 0, to: bytes.readableBytes, by: max(1, bytes.readableBytes / 200)) {
            #expect(throws: QueueDecodeError.self) {
                try QueuePartition.restore(from: bytes.getSlice(at: 0, length: cut)!)
            }
        }
        for round in 0..<500 {
            var damaged = bytes
            let at = stream.next(bytes.readableBytes)
            damaged.setInteger(UInt8(truncatingIfNeeded: stream.next(256)), at: at)
            if let state = try? QueuePartition.restore(from: damaged) {
                _ = state.statistics
                _ = round
            }
        }
    }

    @Test func emptyPartitionRoundTrips() throws {
        let queue = QueueHarness("jobs")
        let restored = try QueuePartition.restore(from: queue.partition.snapshot())
        #expect(restored.queueName == "jobs" && restored.kind == .standard)
        #expect(restored.snapshot() == queue.partition.snapshot())
    }
}
