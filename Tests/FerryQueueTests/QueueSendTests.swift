import FerryModel
import FerryQueue
import NIOCore
import Testing

@Suite struct QueueSendTests {
    @Test func fifoSendNeedsAValidGroupAndADedupID() {
        var queue = QueueHarness()
        #expect(queue.send("a", group: nil).failure == .invalidGroupID(reason: "required on FIFO queues"))
        #expect(queue.send("a", group: "").failure == .invalidGroupID(reason: "empty"))
        #expect(queue.send("a", group: String(repeating: "x", count: 129)).failure != nil)
        #expect(queue.send("a", group: "has space").failure != nil)
        let request = SendRequest(body: QueueHarness.body("x"), groupID: "g")
        #expect(queue.apply(.send([request])) == .sent([.failure(.missingDeduplicationID)]))
        #expect(queue.partition.statistics.visible == 0, "refused sends enqueue nothing")
        #expect(queue.send("ok", group: "cust-42!#").success != nil, "ASCII punctuation is allowed")
    }

    @Test func sequenceNumbersIncreaseAndIDsDeriveFromPositions() {
        var queue = QueueHarness()
        var last: UInt64 = 0
        for n in 0..<5 {
            let requests = (0..<3).map {
                SendRequest(body: QueueHarness.body("m"), groupID: "g\($0)", deduplicationID: "d\(n)-\($0)")
            }
            guard case .sent(let results) = queue.apply(.send(requests)) else { return #expect(Bool(false)) }
            for result in results {
                let position = result.success!.position!
                #expect(position.sequenceNumber > last)
                last = position.sequenceNumber
            }
        }
    }

    @Test func duplicateInsideTheWindowReturnsTheFirstResultAndEnqueuesNothing() {
        var queue = QueueHarness { $0.dedupWindowMs = 60_000 }
        let first = queue.send("a", dedup: "o-981").success
        queue.advance(seconds: 59)
        #expect(queue.send("a-again", dedup: "o-981").success == .duplicate(first!.position!))
        #expect(queue.partition.statistics.visible == 1)
        queue.advance(seconds: 1.5)
        // The window has passed: a new message.
        guard case .enqueued(let second)? = queue.send("a-late", dedup: "o-981").success else {
            return #expect(Bool(false))
        }
        #expect(second != first!.position!)
        #expect(queue.partition.statistics.visible == 2)
    }

    @Test func duplicatesInsideOneBatchAreCaughtToo() {
        var queue = QueueHarness()
        let requests = [
            SendRequest(body: QueueHarness.body("x"), groupID: "g", deduplicationID: "same"),
            SendRequest(body: QueueHarness.body("y"), groupID: "g", deduplicationID: "same"),
        ]
        guard case .sent(let results) = queue.apply(.send(requests)) else { return #expect(Bool(false)) }
        #expect(results[1].success == .duplicate(results[0].success!.position!))
    }

    @Test func scopeMessageGroupDeduplicatesPerGroup() {
        var queue = QueueHarness { $0.deduplicationScope = .messageGroup }
        #expect(queue.send("a", group: "g1", dedup: "d").success?.position != nil)
        guard case .enqueued? = queue.send("b", group: "g2", dedup: "d").success else { return #expect(Bool(false)) }
        guard case .duplicate? = queue.send("c", group: "g1", dedup: "d").success else { return #expect(Bool(false)) }
    }

    @Test func sendStatusResolvesAnAmbiguousSend() {
        var queue = QueueHarness { $0.dedupWindowMs = 10_000 }
        #expect(queue.partition.sendStatus(deduplicationID: "o-1") == .unknown)
        let position = queue.send("a", dedup: "o-1").success!.position!
        #expect(queue.partition.sendStatus(deduplicationID: "o-1") == .accepted(position, atMs: queue.clockMs))
        queue.advance(seconds: 11)
        #expect(queue.partition.sendStatus(deduplicationID: "o-1") == .unknown)
    }

    @Test func standardQueuesTakePerMessageDelaysAndNoDedupIDs() {
        var queue = QueueHarness("jobs")
        let delayed = SendRequest(body: QueueHarness.body("later"), delaySeconds: 10)
        let now = SendRequest(body: QueueHarness.body("now"))
        guard case .sent(let results) = queue.apply(.send([delayed, now])) else { return #expect(Bool(false)) }
        #expect(results.allSatisfy { $0.success != nil })
        #expect(queue.partition.statistics.delayed == 1)
        #expect(queue.receiveBodies() == ["now"])
        queue.advance(seconds: 10)
        #expect(queue.receiveBodies() == ["later"])
        let withDedup = SendRequest(body: QueueHarness.body("x"), deduplicationID: "d")
        #expect(
            queue.apply(.send([withDedup]))
                == .sent([.failure(.invalidDeduplicationID(reason: "applies to FIFO queues only"))])
        )
        let tooLong = SendRequest(body: QueueHarness.body("x"), delaySeconds: 901)
        guard case .sent(let refused) = queue.apply(.send([tooLong])), case .invalidParameter? = refused[0].failure
        else {
            return #expect(Bool(false))
        }
    }

    @Test func fifoTakesOnlyTheQueueDelay() {
        var queue = QueueHarness { $0.delaySeconds = 5 }
        let perMessage = SendRequest(body: QueueHarness.body("x"), groupID: "g", deduplicationID: "d", delaySeconds: 1)
        #expect(queue.apply(.send([perMessage])) == .sent([.failure(.perMessageDelayOnFIFO)]))
        queue.send("a")
        #expect(queue.receiveBodies() == [])
        queue.advance(seconds: 5)
        #expect(queue.receiveBodies() == ["a"])
    }

    @Test func sizeAndBatchLimitsAreTypedAndChangeNothing() {
        var queue = QueueHarness { $0.maximumMessageBytes = 1_024 }
        let big = SendRequest(
            body: ByteBuffer(repeating: 1, count: 1_000),
            messageAttributes: ByteBuffer(repeating: 2, count: 25),
            groupID: "g",
            deduplicationID: "d"
        )
        #expect(queue.apply(.send([big])) == .sent([.failure(.messageTooLarge(bytes: 1_025, limitBytes: 1_024))]))
        #expect(queue.apply(.send([])) == .rejected(.emptyBatch))
        let many = (0...MessagePosition.maxSlots).map {
            SendRequest(body: ByteBuffer(), groupID: "g", deduplicationID: "d\($0)")
        }
        #expect(queue.apply(.send(many)) == .rejected(.tooManyEntries(count: 1_025, limit: 1_024)))
        #expect(queue.partition.statistics.visible == 0)
        #expect(queue.partition.sendStatus(deduplicationID: "d") == .unknown)
    }

    @Test func undecodablePayloadIsRefusedAndChangesNothing() {
        var queue = QueueHarness()
        var witness = QueueHarness()
        queue.send("a")
        witness.send("a")
        var garbage = QueueEntry(timestampMs: queue.clockMs, command: .purge).encoded()
        garbage.setInteger(UInt8(77), at: 9)  // an unknown kind
        guard case .rejected(.undecodable(.unknownKind(77))) = queue.partition.apply(index: 2, payload: garbage) else {
            return #expect(Bool(false))
        }
        // The same state as a replica that applied only a time entry at that index.
        _ = witness.partition.apply(index: 2, entry: QueueEntry(timestampMs: witness.clockMs, command: .advanceTime))
        #expect(queue.partition.snapshot() == witness.partition.snapshot())
    }
}

@Suite struct QueueProducerSessionTests {
    func stamp(_ sequence: UInt64, epoch: UInt32 = 0, producer: UInt64 = 7) -> ProducerStamp {
        ProducerStamp(producerID: producer, epoch: epoch, sequence: sequence)
    }

    @Test func inOrderSendsAreAcceptedAndRepeatsAnswered() {
        var queue = QueueHarness()
        let first = queue.send("m0", dedup: "a", producer: stamp(0)).success!.position!
        _ = queue.send("m1", dedup: "b", producer: stamp(1))
        // A retry after failover carries the same sequence: the original answer, nothing enqueued.
        #expect(queue.send("m0", dedup: "a-retry", producer: stamp(0)).success == .duplicate(first))
        #expect(queue.partition.statistics.visible == 2)
    }

    @Test func aGapIsRefusedSoARetryCanNeverReorderAGroup() {
        var queue = QueueHarness()
        _ = queue.send("m0", dedup: "a", producer: stamp(0))
        #expect(queue.send("m2", dedup: "c", producer: stamp(2)).failure == .outOfOrderSequence(expected: 1))
        _ = queue.send("m1", dedup: "b", producer: stamp(1))
        _ = queue.send("m2", dedup: "c", producer: stamp(2))
        #expect(queue.receiveBodies() == ["m0", "m1", "m2"])
    }

    @Test func aNewerEpochFencesTheOlderProducer() {
        var queue = QueueHarness()
        _ = queue.send("old", dedup: "a", producer: stamp(0, epoch: 1))
        _ = queue.send("new", dedup: "b", producer: stamp(0, epoch: 2))
        #expect(
            queue.send("zombie", dedup: "c", producer: stamp(1, epoch: 1)).failure == .producerFenced(currentEpoch: 2)
        )
        #expect(queue.send("x", dedup: "d", producer: stamp(5, producer: 99)).failure == .unknownProducer)
    }

    @Test func idleSessionsExpireAndTheStateIsReplicated() {
        var queue = QueueHarness { $0.producerIdleMs = 60_000 }
        _ = queue.send("m0", dedup: "a", producer: stamp(0))
        #expect(queue.partition.statistics.producerSessions == 1)
        queue.advance(seconds: 61)
        queue.advance(seconds: 61)
        #expect(queue.partition.statistics.producerSessions == 0)
        #expect(queue.send("m1", dedup: "b", producer: stamp(1)).failure == .unknownProducer)
    }

    @Test func aSessionSendWithAnOldDedupIDIsADuplicateAndTheSessionMovesOn() {
        var queue = QueueHarness()
        let first = queue.send("m", dedup: "same").success!.position!
        #expect(queue.send("m", dedup: "same", producer: stamp(0)).success == .duplicate(first))
        #expect(queue.send("n", dedup: "other", producer: stamp(1)).success?.position != nil)
        #expect(queue.partition.sendStatus(producer: stamp(0)) == .accepted(first, atMs: nil))
    }
}
