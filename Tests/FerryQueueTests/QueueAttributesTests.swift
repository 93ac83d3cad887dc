import FerryModel
import Testing

@Suite struct QueueLimitsTests {
    /// Swift has no compile-time assertions: the relations between limits are stated here (STYLE #5).
    @Test func limitRelationsHold() {
        #expect(QueueLimits.minDedupWindowMs < QueueLimits.defaultDedupWindowMs)
        #expect(QueueLimits.defaultDedupWindowMs < QueueLimits.maxDedupWindowMs)
        #expect(QueueLimits.minRetentionSeconds < QueueLimits.defaultRetentionSeconds)
        #expect(QueueLimits.defaultRetentionSeconds < QueueLimits.maxRetentionSeconds)
        #expect(QueueLimits.defaultVisibilityTimeoutSeconds <= QueueLimits.maxVisibilityTimeoutSeconds)
        #expect(QueueLimits.minMaximumMessageBytes < QueueLimits.maxMessageBytes)
        #expect(QueueLimits.minMaxReceiveCount < QueueLimits.maxMaxReceiveCount)
        #expect(QueueLimits.maxBatchEntries == QueueLimits.maxReceiveMessages)
        #expect(QueueLimits.maxBatchEntries < MessagePosition.maxSlots, "an entry packs several client batches")
    }
}

@Suite struct ClientBatchLimitTests {
    @Test func clientBatchesHoldOneToTenEntries() throws {
        #expect(throws: QueueError.emptyBatch) { try QueueLimits.validateBatch(count: 0) }
        #expect(throws: QueueError.tooManyEntries(count: 11, limit: 10)) { try QueueLimits.validateBatch(count: 11) }
        try QueueLimits.validateBatch(count: 10)
    }
}

@Suite struct QueueAttributesTests {
    @Test(arguments: [QueueKind.fifo, .standard])
    func defaultsAreSQSDefaultsAndValid(_ kind: QueueKind) throws {
        let attributes = QueueAttributes()
        #expect(attributes.visibilityTimeoutSeconds == 30)
        #expect(attributes.retentionSeconds == 345_600)
        #expect(attributes.delaySeconds == 0)
        #expect(attributes.receiveWaitSeconds == 0)
        #expect(attributes.dedupWindowMs == 300_000)
        try attributes.validate(for: kind)
    }

    /// Each range is checked at both edges: the edge passes, one past it fails with the SQS attribute name.
    @Test func rangesAreCheckedAtBothEdges() throws {
        typealias Edit = (inout QueueAttributes, Int) -> Void
        let cases: [(String, ClosedRange<Int>, Edit)] = [
            ("VisibilityTimeout", 0...43_200, { $0.visibilityTimeoutSeconds = $1 }),
            ("MessageRetentionPeriod", 60...1_209_600, { $0.retentionSeconds = $1 }),
            ("DelaySeconds", 0...900, { $0.delaySeconds = $1 }),
            ("MaximumMessageSize", 1_024...1_048_576, { $0.maximumMessageBytes = $1 }),
            ("ReceiveMessageWaitTimeSeconds", 0...20, { $0.receiveWaitSeconds = $1 }),
            ("DeduplicationWindowSeconds", 1_000...86_400_000, { $0.dedupWindowMs = Int64($1) }),
        ]
        for (name, range, edit) in cases {
            for good in [range.lowerBound, range.upperBound] {
                var attributes = QueueAttributes()
                edit(&attributes, good)
                try attributes.validate(for: .fifo)
            }
            for bad in [range.lowerBound - 1, range.upperBound + 1] {
                var attributes = QueueAttributes()
                edit(&attributes, bad)
                do {
                    try attributes.validate(for: .fifo)
                    Issue.record("\(name) = \(bad) was accepted")
                } catch {
                    guard case .invalidAttribute(let reported, _) = error else {
                        Issue.record("unexpected \(error)")
                        continue
                    }
                    #expect(reported == name)
                }
            }
        }
    }

    @Test func fifoOnlyAttributesAreRejectedOnStandardQueues() {
        var attributes = QueueAttributes()
        attributes.contentBasedDeduplication = true
        #expect(throws: QueueError.self) { try attributes.validate(for: .standard) }
        attributes = QueueAttributes()
        attributes.deduplicationScope = .messageGroup
        #expect(throws: QueueError.self) { try attributes.validate(for: .standard) }
    }

    @Test func perMessageGroupThroughputNeedsMessageGroupScope() throws {
        var attributes = QueueAttributes()
        attributes.fifoThroughputLimit = .perMessageGroupId
        #expect(throws: QueueError.self) { try attributes.validate(for: .fifo) }
        attributes.deduplicationScope = .messageGroup
        try attributes.validate(for: .fifo)
    }

    @Test func redrivePolicyChecksCountAndDeadLetterQueue() throws {
        var attributes = QueueAttributes()
        attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: 1_000)
        try attributes.validate(for: .fifo)
        attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: 0)
        #expect(throws: QueueError.self) { try attributes.validate(for: .fifo) }
        attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq", maxReceiveCount: 5)
        #expect(throws: QueueError.self, "a FIFO queue's dead letters need a FIFO queue") {
            try attributes.validate(for: .fifo)
        }
        attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "bad name", maxReceiveCount: 5)
        #expect(throws: QueueError.self) { try attributes.validate(for: .standard) }
    }

    @Test func redriveAllowPolicyByQueueTakesOneToTenSources() throws {
        var attributes = QueueAttributes()
        attributes.redriveAllowPolicy = .byQueue((1...10).map { "q\($0)" })
        try attributes.validate(for: .standard)
        attributes.redriveAllowPolicy = .byQueue((1...11).map { "q\($0)" })
        #expect(throws: QueueError.self) { try attributes.validate(for: .standard) }
        attributes.redriveAllowPolicy = .byQueue([])
        #expect(throws: QueueError.self) { try attributes.validate(for: .standard) }
    }
}

@Suite struct QueueNameTests {
    @Test func namesFollowSQSRules() throws {
        try QueueName.validate("orders")
        try QueueName.validate("orders_2024-eu.fifo")
        try QueueName.validate(String(repeating: "a", count: 75) + ".fifo")
        #expect(QueueName.kind(of: "orders.fifo") == .fifo)
        #expect(QueueName.kind(of: "orders") == .standard)
        for bad in ["", ".fifo", "has space", "dots.in.name", "ünïcode", String(repeating: "a", count: 81)] {
            #expect(throws: QueueError.self, "\(bad)") { try QueueName.validate(bad) }
        }
    }

    @Test func groupAndDeduplicationIDsFollowSQSRules() throws {
        try MessageIdentifier.validateGroupID("cust-42")
        try MessageIdentifier.validateGroupID(##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##)
        try MessageIdentifier.validateDeduplicationID(String(repeating: "d", count: 128))
        #expect(throws: QueueError.invalidGroupID(reason: "empty")) { try MessageIdentifier.validateGroupID("") }
        #expect(throws: QueueError.self) { try MessageIdentifier.validateGroupID("with space") }
        #expect(throws: QueueError.self) { try MessageIdentifier.validateGroupID("tab\t") }
        #expect(throws: QueueError.self) { try MessageIdentifier.validateGroupID("é") }
        #expect(throws: QueueError.self) {
            try MessageIdentifier.validateDeduplicationID(String(repeating: "d", count: 129))
        }
    }
}
