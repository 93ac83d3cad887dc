import FerryModel
import FerryWire
import NIOCore
import Testing

@Suite struct ClientFrameTests {
    static func bytes(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    static let position = MessagePosition(partition: 1, index: 77, slot: 3)
    static let handle = ReceiptHandle(position: position, fencingToken: 9)
    static var attributes: QueueAttributes {
        var attributes = QueueAttributes()
        attributes.visibilityTimeoutSeconds = 60
        attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "dlq.fifo", maxReceiveCount: 5)
        return attributes
    }

    static let requests: [ClientRequest] = [
        .hello(client: "ferry-cli 0.1"),
        .describeCluster,
        .createQueue(name: "orders.fifo", partitions: 4, attributes: attributes),
        .deleteQueue(name: "orders.fifo"),
        .listQueues(prefix: "ord"),
        .setQueueAttributes(name: "orders.fifo", attributes: attributes),
        .purgeQueue(name: "orders.fifo", partition: 3),
        .send(
            queue: "orders.fifo",
            partition: 2,
            requests: [
                SendRequest(
                    body: bytes("hello"),
                    groupID: "cust-1",
                    deduplicationID: "o-1",
                    producer: ProducerStamp(producerID: 4, epoch: 1, sequence: 8)
                )
            ]
        ),
        .receive(
            queue: "orders.fifo",
            partition: 0,
            request: ReceiveRequest(maxMessages: 10, visibilityTimeoutSeconds: 30, requestAttemptID: "a"),
            waitMs: 20_000
        ),
        .delete(queue: "orders.fifo", partition: 1, handles: [handle, handle]),
        .changeVisibility(
            queue: "orders.fifo",
            partition: 1,
            changes: [VisibilityChange(handle: handle, visibilityTimeoutSeconds: 0)]
        ),
        .initProducer(producerID: nil),
        .initProducer(producerID: 12),
        .sendStatus(queue: "orders.fifo", partition: 3, deduplicationID: "o-1", groupID: "cust-1"),
        .nodeStatus,
        .nodeHealth,
        .peekMessages(queue: "orders.fifo", partition: 3, maxMessages: 20),
        .groupBacklog(queue: "orders.fifo", partition: 1, maxGroups: 100),
        .groupDigest(groupID: 7),
        .queueStatistics(queue: "orders.fifo", partition: 1),
        .startMoveTask(
            queue: "dlq.fifo",
            partition: 1,
            request: MoveTaskRequest(taskID: "t-1", maxMessagesPerSecond: 50)
        ),
        .startMoveTask(
            queue: "dlq.fifo",
            partition: 0,
            request: MoveTaskRequest(taskID: "t-2", destination: "orders.fifo", maxMessagesPerSecond: 1)
        ),
        .cancelMoveTask(queue: "dlq.fifo", partition: 2, taskID: "t-1"),
        .listMoveTasks(queue: "dlq.fifo", partition: 3),
        .awaitMessages(queue: "orders.fifo", partition: 2, waitMs: 20_000),
        .summarizeDeliverable(queue: "orders.fifo", partition: 1, maxMessages: 10, requestAttemptID: nil, waitMs: 0),
        .summarizeDeliverable(queue: "orders.fifo", partition: 0, maxMessages: 3, requestAttemptID: "a-1", waitMs: 900),
        .receiveIfFull(
            queue: "orders.fifo",
            partition: 3,
            request: ReceiveRequest(maxMessages: 10, visibilityTimeoutSeconds: 30)
        ),
        .changeCluster(.addNode(NodeDescription(id: 4, host: "10.0.0.4", peerPort: 1, clientPort: 2, httpPort: 3))),
        .changeCluster(.removeNode(2)),
        .changeCluster(
            .replaceNode(
                old: 3,
                new: NodeDescription(id: 9, host: "h9", peerPort: 7001, clientPort: 7002, httpPort: 7003)
            )
        ),
        .changeCluster(.movePartition(queue: "orders.fifo", partition: 1, from: 2, to: 4)),
        .changeKeys(
            .create(id: "AKFRKEY0000000000001", secret: "s3cret/+0123456789", account: "123456789012", admin: true)
        ),
        .changeKeys(.revoke(id: "AKFRKEY0000000000001")),
        .changeKeys(.rotate(id: "AKFRKEY0000000000001", secret: "n3w-secret-0123456789", graceMs: 300_000)),
        .listKeys,
        .authBegin(keyID: "AKFRKEY0000000000001"),
        .authProve(clientNonce: "00ff", proof: "abcdef0123"),
    ]

    static let responses: [ClientResponse] = [
        .hello(nodeID: 2, clusterID: "local-3", protocolVersion: ClientFrame.protocolVersion),
        .cluster(
            ClusterDescription(
                clusterID: "local-3",
                nodes: [NodeDescription(id: 1, host: "127.0.0.11", peerPort: 7001, clientPort: 7002, httpPort: 7003)],
                queues: [QueueDescription(name: "orders.fifo", id: 5, partitions: 4, attributes: attributes)],
                partitions: [
                    PartitionDescription(
                        queueID: 5,
                        partition: 0,
                        groupID: 20,
                        replicas: [1, 2, 3],
                        leader: 2,
                        term: 7
                    )
                ]
            )
        ),
        .queue(QueueDescription(name: "jobs", id: 6, partitions: 1, attributes: QueueAttributes())),
        .queues([]),
        .done,
        .sent([
            .success(.enqueued(position)), .success(.duplicate(position)), .success(.duplicateResultForgotten),
            .failure(WireError(.outOfOrderSequence, "gap", expected: 9)),
        ]),
        .received([
            Delivery(
                handle: handle,
                body: bytes("body"),
                messageAttributes: ByteBuffer(),
                groupID: "g",
                deduplicationID: nil,
                sentAtMs: 1_700_000_000_000,
                receiveCount: 2,
                firstReceiveAtMs: 1_700_000_000_500,
                visibleAgainAtMs: 1_700_000_030_500,
                origin: MoveOrigin(
                    sourceQueueID: 1,
                    sourceQueue: "orders.fifo",
                    position: position,
                    moveCount: 1,
                    receiveCount: 5
                )
            )
        ]),
        .deleted([.success(.deleted), .success(.alreadyGone), .failure(WireError(.staleReceiptHandle, "stale"))]),
        .visibilityChanged([.success(1_700_000_000_000), .failure(WireError(.messageNotInFlight, "no"))]),
        .producer(id: 12, epoch: 3),
        .sendStatus(.unknown),
        .sendStatus(.accepted(position, atMs: 5)),
        .sendStatus(.accepted(position, atMs: nil)),
        .digest(applied: 42, digest: 0xDEAD_BEEF_0123_4567),
        .moveTasks([]),
        .moveTasks([
            MoveTaskStatus(
                taskID: "t-1",
                destination: nil,
                maxMessagesPerSecond: 50,
                state: .running,
                startedAtMs: 1_700_000_000_000,
                messagesToMove: 9,
                messagesMoved: 4,
                messagesSkipped: 1,
                endSequence: 99 << 10,
                cursor: 7
            ),
            MoveTaskStatus(
                taskID: "t-0",
                destination: "orders.fifo",
                maxMessagesPerSecond: 1,
                state: .cancelled,
                startedAtMs: 1_600_000_000_000,
                messagesToMove: 3,
                messagesMoved: 3,
                messagesSkipped: 0,
                endSequence: 5 << 10,
                cursor: 5 << 10
            ),
        ]),
        .nodeStatus(
            NodeStatus(
                nodeID: 1,
                fsync: "always",
                groups: [
                    GroupStatus(
                        groupID: 20,
                        queue: "orders.fifo",
                        partition: 0,
                        leader: 1,
                        term: 7,
                        commitIndex: 100,
                        appliedIndex: 99,
                        followers: [GroupStatus.FollowerProgress(node: 2, matchIndex: 98)]
                    ).with(voters: [1, 2, 3], learners: [4], repairing: true)
                ]
            ).with(storageFull: "node 1: no space left on device (/d/wal/1.wal)")
        ),
        .nodeHealth(NodeHealth(nodeID: 3)),
        .groups([]),
        .groups([
            GroupBacklog(groupID: "customer-17", messages: 12, inFlight: 1, oldestSentAtMs: 1_700_000_000_000),
            GroupBacklog(groupID: "ü-group", messages: 1, inFlight: 0, oldestSentAtMs: 0),
        ]),
        .nodeHealth(
            NodeHealth(
                nodeID: 1,
                fsyncMedianMicros: 512,
                fsyncMaxMicros: 9_000,
                diskTotalBytes: 250 << 30,
                diskFreeBytes: 60 << 30,
                slowDisk: true,
                leadershipChanges: [
                    NodeHealth.LeadershipChange(groupID: 0, term: 2, leader: 1, atMs: 1_700_000_000_000),
                    NodeHealth.LeadershipChange(groupID: 20, term: 4, leader: 0, atMs: 1_700_000_000_500),
                ]
            )
        ),
        .error(WireError(.storageFull, "node 1: no space left on device")),
        .error(WireError(.notLeader, "node 1 does not lead orders.fifo/0", leaderHint: 3)),
        .statistics(
            QueueStatistics(
                visible: 3,
                inFlight: 1,
                delayed: 2,
                oldestSentAtMs: 1_700_000_000_000,
                groups: 4,
                groupsWithInFlight: 1,
                outbox: 0,
                deduplicationRecords: 6,
                producerSessions: 1,
                sent: 10,
                received: 7,
                deleted: 5,
                deadLettered: 1,
                expired: 0,
                movesExhausted: 0
            ),
            nowMs: 1_700_000_005_000
        ),
        .deliverable(DeliverableSummary(count: 0, repeatedAttemptCount: 0, firstAvailableAtMs: nil)),
        .keys([]),
        .authChallenge(nonce: "0123456789abcdef"),
        .authenticated(keyID: "AKFRKEY0000000000001", account: "123456789012", admin: false),
        .keys([
            AccessKeyInfo(
                id: "AKFRKEY0000000000001",
                account: "123456789012",
                admin: true,
                createdAtMs: 5,
                previousUntilMs: 0
            ),
            AccessKeyInfo(
                id: "AKFRKEY0000000000002",
                account: "210987654321",
                admin: false,
                createdAtMs: 6,
                previousUntilMs: 9
            ),
        ]),
        .deliverable(
            DeliverableSummary(
                count: 7,
                repeatedAttemptCount: 3,
                firstAvailableAtMs: 1_700_000_000_250,
                pendingDeadline: true
            )
        ),
    ]

    static var frames: [ClientFrame] {
        requests.enumerated().map { ClientFrame.request(UInt32($0.offset), $0.element) }
            + responses.enumerated().map { ClientFrame.response(UInt32(1_000 + $0.offset), $0.element) }
    }

    @Test(arguments: frames)
    func everyKindRoundTrips(_ frame: ClientFrame) throws {
        var buffer = frame.encoded()
        #expect(try ClientFrame.decode(from: &buffer) == frame)
        #expect(buffer.readableBytes == 0)
    }

    @Test func pipelinedFramesDecodeOneByOneAndAPartialFrameWaits() throws {
        var buffer = ByteBuffer()
        for frame in Self.frames.prefix(5) { frame.encode(into: &buffer) }
        var partial = buffer.getSlice(at: 0, length: buffer.readableBytes - 1)!
        var decoded: [ClientFrame] = []
        while let frame = try ClientFrame.decode(from: &partial) { decoded.append(frame) }
        #expect(decoded == Array(Self.frames.prefix(4)), "the last, incomplete frame waits for its bytes")
    }

    @Test func oversizedLengthIsRefusedBeforeReading() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(WireLimits.maxClientFrameBytes + 1))
        #expect(
            throws: WireDecodeError.frameTooLarge(
                length: WireLimits.maxClientFrameBytes + 1,
                limit: WireLimits.maxClientFrameBytes
            )
        ) {
            try ClientFrame.decode(from: &buffer)
        }
    }

    @Test func everyTruncatedBodyThrows() {
        for frame in Self.frames {
            let whole = frame.encoded()
            let bodyLength = whole.readableBytes - 4
            for cut in 6..<bodyLength {
                var damaged = ByteBuffer()
                damaged.writeInteger(UInt32(cut))
                damaged.writeImmutableBuffer(whole.getSlice(at: 4, length: cut)!)
                #expect(throws: WireDecodeError.self) { try ClientFrame.decode(from: &damaged) }
            }
        }
    }

    /// Any bytes decode or throw a typed error; seeded, so a failure replays.
    @Test(arguments: 0..<8)
    func randomDamageDecodesOrThrows(_ seed: Int) {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(truncatingIfNeeded: state & 0x7FFF_FFFF)
        }
        let frames = Self.frames
        for round in 0..<400 {
            var bytes = frames[round % frames.count].encoded()
            for _ in 0..<(1 + next() % 3) {
                let at = 4 + next() % (bytes.readableBytes - 4)
                bytes.setInteger(UInt8(truncatingIfNeeded: next()), at: at)
            }
            _ = try? ClientFrame.decode(from: &bytes)
        }
    }
}

@Suite struct ErrorCodeTests {
    @Test func codesAreStableAndDistinct() {
        #expect(ErrorCode.notLeader.rawValue == 1)
        #expect(ErrorCode.internal.rawValue == 21)
        #expect(Set(ErrorCode.allCases.map(\.rawValue)).count == ErrorCode.allCases.count)
        #expect(ErrorCode.allCases.map(\.rawValue) == Array(1...UInt16(ErrorCode.allCases.count)))
    }

    @Test func everyQueueRefusalHasACode() {
        let cases: [(QueueError, ErrorCode)] = [
            (.invalidAttribute(name: "X", reason: "y"), .invalidArgument),
            (.missingDeduplicationID, .invalidArgument),
            (.messageTooLarge(bytes: 2, limitBytes: 1), .messageTooLarge),
            (.tooManyEntries(count: 11, limit: 10), .tooManyEntries),
            (.emptyBatch, .tooManyEntries),
            (.invalidReceiptHandle, .invalidReceiptHandle),
            (.staleReceiptHandle, .staleReceiptHandle),
            (.messageNotInFlight, .messageNotInFlight),
            (.tooManyInFlight(limit: 3), .overLimit),
            (.outOfOrderSequence(expected: 4), .outOfOrderSequence),
            (.producerFenced(currentEpoch: 2), .producerFenced),
            (.unknownProducer, .unknownProducer),
            (.moveTaskNotFound(taskID: "t"), .moveTaskNotFound),
        ]
        for (error, code) in cases {
            #expect(WireError(error).code == code, "\(error)")
        }
        #expect(WireError(QueueError.outOfOrderSequence(expected: 4)).expected == 4)
        #expect(ErrorCode.notLeader.isRetriable && !ErrorCode.invalidArgument.isRetriable)
    }
}

extension GroupStatus {
    func with(voters: [UInt64], learners: [UInt64], repairing: Bool = false) -> GroupStatus {
        var status = self
        status.voters = voters
        status.learners = learners
        status.repairing = repairing
        return status
    }
}

extension NodeStatus {
    func with(storageFull: String) -> NodeStatus {
        var status = self
        status.storageFull = storageFull
        return status
    }
}
