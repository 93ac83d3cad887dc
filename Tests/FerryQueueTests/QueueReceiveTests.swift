import FerryModel
import FerryQueue
import NIOCore
import Testing

@Suite struct QueueReceiveTests {
    @Test func aGroupIsHandedOutInOrderAndBlockedWhileInFlight() {
        var queue = QueueHarness()
        for n in 0..<5 { queue.send("a\(n)", group: "A") }
        #expect(queue.receiveBodies(2) == ["a0", "a1"], "several of one group in order in one batch")
        #expect(queue.receiveBodies() == [], "nothing more of A while a0/a1 are in flight")
        queue.advance(seconds: 30)
        #expect(queue.receiveBodies(1) == ["a0"], "after the visibility timeout the earliest comes back first")
    }

    @Test func otherGroupsAreNotHiddenBehindABacklog() {
        var queue = QueueHarness()
        var requests: [SendRequest] = []
        for n in 0..<1_000 {
            requests.append(SendRequest(body: QueueHarness.body("big\(n)"), groupID: "big", deduplicationID: "b\(n)"))
        }
        queue.apply(.send(requests))
        queue.send("small", group: "small")
        let first = queue.receiveBodies(10)
        #expect(first.count == 10)
        #expect(first.allSatisfy { $0.hasPrefix("big") })
        #expect(queue.receiveBodies(10) == ["small"], "the big group is in flight; the small one is next")
    }

    @Test func oldestHeadsComeFirstAcrossGroups() {
        var queue = QueueHarness()
        queue.send("b0", group: "B")
        queue.send("a0", group: "A")
        queue.send("b1", group: "B")
        #expect(queue.receiveBodies(3) == ["b0", "b1", "a0"])
    }

    @Test func fencingTokensIncreaseWithEveryDelivery() {
        var queue = QueueHarness()
        queue.send("a")
        var tokens: [UInt64] = []
        for _ in 0..<3 {
            guard let delivery = queue.receive(visibility: 1).success?.deliveries.first else {
                return #expect(Bool(false))
            }
            tokens.append(delivery.fencingToken)
            #expect(delivery.receiveCount == UInt32(tokens.count))
            queue.advance(seconds: 1)
        }
        #expect(tokens == tokens.sorted() && Set(tokens).count == 3)
    }

    @Test func aRepeatedAttemptIDReturnsTheSameBatchAndRestartsVisibility() {
        var queue = QueueHarness()
        for n in 0..<3 { queue.send("m\(n)", group: "g\(n)") }
        let first = queue.receive(2, visibility: 10, attempt: "att-1").success!
        queue.advance(seconds: 8)
        let again = queue.receive(2, visibility: 10, attempt: "att-1").success!
        #expect(again.repeatedAttempt)
        #expect(again.deliveries.map(\.handle) == first.deliveries.map(\.handle))
        #expect(again.deliveries.allSatisfy { $0.visibleAgainAtMs == queue.clockMs + 10_000 })
        queue.advance(seconds: 8)
        #expect(queue.partition.statistics.inFlight == 2, "visibility restarted at the repeat")
        // After 5 minutes the id is forgotten.
        queue.advance(seconds: 300)
        #expect(queue.receive(2, attempt: "att-1").success?.repeatedAttempt == false)
    }

    @Test func theInFlightLimitIsTyped() {
        var queue = QueueHarness("jobs") { $0.maxInFlightMessages = 3 }
        for n in 0..<5 { _ = queue.send("m\(n)", group: nil) }
        #expect(queue.receiveBodies(10).count == 3)
        #expect(queue.receive().failure == .tooManyInFlight(limit: 3))
    }

    @Test func theInFlightLimitIsSharedByPartitions() {
        let queue = QueueHarness("jobs", partition: 1, partitions: 4) { $0.maxInFlightMessages = 10 }
        #expect(queue.partition.inFlightLimit == 3)
    }

    @Test func badReceiveParametersAreTyped() {
        var queue = QueueHarness()
        guard case .invalidParameter(let name, _)? = queue.receive(11).failure else { return #expect(Bool(false)) }
        #expect(name == "MaxNumberOfMessages")
        guard case .invalidParameter("VisibilityTimeout", _)? = queue.receive(1, visibility: 43_201).failure else {
            return #expect(Bool(false))
        }
        guard case .invalidParameter("ReceiveRequestAttemptId", _)? = queue.receive(1, attempt: "no spaces").failure
        else {
            return #expect(Bool(false))
        }
    }

    @Test func standardQueuesHandOutTheOldestAvailableMessages() {
        var queue = QueueHarness("jobs")
        for n in 0..<4 { _ = queue.send("m\(n)", group: nil) }
        #expect(queue.receiveBodies(2, visibility: 5) == ["m0", "m1"])
        #expect(queue.receiveBodies(1) == ["m2"], "standard queues have no groups to block")
        queue.advance(seconds: 5)
        #expect(queue.receiveBodies(3) == ["m0", "m1", "m3"])
    }

    @Test func statisticsCountVisibleInFlightDelayedAndOldestAge() {
        var queue = QueueHarness("jobs") { $0.delaySeconds = 0 }
        _ = queue.send("a", group: nil)
        queue.advance(seconds: 2)
        queue.apply(.send([SendRequest(body: QueueHarness.body("d"), delaySeconds: 60)]))
        _ = queue.send("b", group: nil)
        _ = queue.receiveBodies(1)
        let stats = queue.partition.statistics
        #expect(stats.visible == 1 && stats.inFlight == 1 && stats.delayed == 1)
        #expect(stats.ageOfOldestMs(nowMs: queue.clockMs) == 2_000)
        var fifo = QueueHarness()
        fifo.send("x", group: "A")
        fifo.send("y", group: "B")
        _ = fifo.receiveBodies(1)
        #expect(fifo.partition.statistics.groupsWithInFlight == 1)
        #expect(fifo.partition.statistics.groups == 2)
    }
}

@Suite struct QueueDeleteAndVisibilityTests {
    @Test func deleteByHandleAndNeverDeliverAgain() {
        var queue = QueueHarness()
        queue.send("a")
        queue.send("b")
        let delivery = queue.receive(1, visibility: 1).success!.deliveries[0]
        #expect(queue.delete([delivery.handle]) == [.success(.deleted)])
        queue.advance(seconds: 2)
        #expect(queue.receiveBodies() == ["b"])
        #expect(queue.delete([delivery.handle]) == [.success(.alreadyGone)], "deleting twice is fine, as in SQS")
    }

    @Test func aHandleFromAnEarlierDeliveryIsRejectedAfterRedelivery() {
        var queue = QueueHarness()
        queue.send("a")
        let first = queue.receive(visibility: 1).success!.deliveries[0]
        queue.advance(seconds: 1)
        let second = queue.receive(visibility: 30).success!.deliveries[0]
        #expect(queue.delete([first.handle]) == [.failure(.staleReceiptHandle)])
        #expect(queue.changeVisibility(first.handle, seconds: 60).failure == .staleReceiptHandle)
        #expect(queue.partition.statistics.inFlight == 1, "the refused delete changed nothing")
        #expect(queue.delete([second.handle]) == [.success(.deleted)])
    }

    @Test func handlesThatNeverExistedAreInvalid() {
        var queue = QueueHarness()
        queue.send("a")
        let real = queue.receive().success!.deliveries[0].handle
        let otherPartition = ReceiptHandle(
            position: MessagePosition(partition: 3, index: real.position.index, slot: 0),
            fencingToken: real.fencingToken
        )
        let future = ReceiptHandle(position: MessagePosition(partition: 0, index: 999, slot: 0), fencingToken: 1)
        let forged = ReceiptHandle(position: real.position, fencingToken: real.fencingToken + 5)
        #expect(
            queue.delete([otherPartition, future, forged])
                == Array(repeating: .failure(.invalidReceiptHandle), count: 3)
        )
        #expect(queue.apply(.delete([])) == .rejected(.emptyBatch))
    }

    /// SQS standard queues: the latest handle still deletes once its visibility ended, before a redelivery.
    @Test func standardDeleteAfterVisibilityExpiredButBeforeRedeliveryWorks() {
        var queue = QueueHarness("jobs")
        queue.send("a", group: nil)
        let delivery = queue.receive(visibility: 1).success!.deliveries[0]
        queue.advance(seconds: 2)
        #expect(queue.delete([delivery.handle]) == [.success(.deleted)])
        #expect(queue.receiveBodies() == [])
    }

    /// SQS FIFO queues: a receipt handle expires with its visibility timeout; the delete is refused and the
    /// message is delivered again, in its place.
    @Test func fifoDeleteAfterVisibilityExpiredIsRefusedAsStale() {
        var queue = QueueHarness()
        queue.send("a")
        queue.send("b")
        let delivery = queue.receive(1, visibility: 1).success!.deliveries[0]
        queue.advance(seconds: 2)
        #expect(queue.delete([delivery.handle]) == [.failure(.staleReceiptHandle)])
        #expect(queue.receiveBodies(1) == ["a"])
    }

    @Test func visibilityChangeOfADeletedMessageIsMessageGone() {
        var queue = QueueHarness()
        queue.send("a")
        let delivery = queue.receive(visibility: 30).success!.deliveries[0]
        #expect(queue.delete([delivery.handle]) == [.success(.deleted)])
        let change = VisibilityChange(handle: delivery.handle, visibilityTimeoutSeconds: 5)
        #expect(queue.apply(.changeVisibility([change])) == .visibilityChanged([.failure(.messageGone)]))
    }

    @Test func changeVisibilityExtendsAndZeroReleasesTheGroup() {
        var queue = QueueHarness()
        queue.send("a0", group: "A")
        queue.send("a1", group: "A")
        let delivery = queue.receive(1, visibility: 10).success!.deliveries[0]
        #expect(queue.changeVisibility(delivery.handle, seconds: 60).success == queue.clockMs + 60_000)
        queue.advance(seconds: 30)
        #expect(queue.receiveBodies() == [], "extended: still in flight")
        #expect(queue.changeVisibility(delivery.handle, seconds: 0).success == queue.clockMs)
        #expect(queue.receiveBodies() == ["a0", "a1"])
    }

    @Test func visibilityRulesAreTyped() {
        var queue = QueueHarness()
        queue.send("a")
        let delivery = queue.receive(visibility: 1).success!.deliveries[0]
        guard case .invalidParameter? = queue.changeVisibility(delivery.handle, seconds: -1).failure else {
            return #expect(Bool(false))
        }
        queue.advance(seconds: 2)
        #expect(queue.changeVisibility(delivery.handle, seconds: 10).failure == .messageNotInFlight)
        let again = queue.receive(visibility: 43_200).success!.deliveries[0]
        queue.advance(seconds: 3_600)
        #expect(queue.changeVisibility(again.handle, seconds: 43_200).failure == .visibilityBeyondMaximum)
        #expect(queue.changeVisibility(again.handle, seconds: 39_600).success != nil, "up to 12 h after the receive")
    }

    @Test func batchFormsAnswerEachEntry() {
        var queue = QueueHarness()
        for n in 0..<3 { queue.send("m\(n)", group: "g\(n)") }
        let handles = queue.receive().success!.deliveries.map(\.handle)
        let changes =
            handles.map { VisibilityChange(handle: $0, visibilityTimeoutSeconds: 100) }
            + [VisibilityChange(handle: handles[0], visibilityTimeoutSeconds: 50_000)]
        guard case .visibilityChanged(let results) = queue.apply(.changeVisibility(changes)) else {
            return #expect(Bool(false))
        }
        #expect(results.prefix(3).allSatisfy { $0.success != nil })
        #expect(results[3].failure != nil)
        #expect(
            queue.delete(handles + [handles[0]]) == [
                .success(.deleted), .success(.deleted), .success(.deleted), .success(.alreadyGone),
            ]
        )
    }
}

@Suite struct QueueRetentionAndPurgeTests {
    @Test func messagesExpireAfterTheRetentionPeriodEvenInFlight() {
        var queue = QueueHarness { $0.retentionSeconds = 60 }
        queue.send("a0", group: "A")
        queue.send("a1", group: "A")
        _ = queue.receiveBodies(1, visibility: 600)
        queue.advance(seconds: 30)
        queue.send("late", group: "B")
        queue.advance(seconds: 30)
        #expect(queue.partition.statistics.expired == 2)
        #expect(queue.receiveBodies() == ["late"])
    }

    @Test func aShorterRetentionTakesEffectAtOnce() {
        var queue = QueueHarness()
        queue.send("a")
        queue.advance(seconds: 120)
        var attributes = queue.partition.attributes
        attributes.retentionSeconds = 60
        #expect(queue.apply(.setAttributes(attributes)) == .attributesSet)
        #expect(queue.partition.statistics.visible == 0)
        attributes.retentionSeconds = 10
        guard case .rejected(.invalidAttribute("MessageRetentionPeriod", _)) = queue.apply(.setAttributes(attributes))
        else {
            return #expect(Bool(false))
        }
        #expect(queue.partition.attributes.retentionSeconds == 60, "a refused change changes nothing")
    }

    @Test func purgeRemovesEveryMessageButKeepsDedup() {
        var queue = QueueHarness()
        for n in 0..<5 { queue.send("m\(n)", group: "g\(n % 2)") }
        _ = queue.receiveBodies(1)
        #expect(queue.apply(.purge) == .purged(messages: 5))
        #expect(queue.partition.statistics.visible == 0 && queue.partition.statistics.inFlight == 0)
        guard case .duplicate? = queue.send("m0").success else { return #expect(Bool(false)) }
        queue.send("new", dedup: "new")
        #expect(queue.receiveBodies() == ["new"])
    }
}
