import FerryModel
import FerryQueue
import NIOCore
import Testing

@Suite struct CatalogTests {
    static func nodes(_ count: Int) -> [CatalogNode] {
        (1...count).map {
            CatalogNode(id: UInt64($0), host: "127.0.0.\(10 + $0)", peerPort: 7100, clientPort: 7200, httpPort: 7300)
        }
    }

    struct Harness {
        var catalog = Catalog()
        var index: UInt64 = 0

        mutating func apply(_ command: CatalogCommand) -> CatalogResult {
            index += 1
            return catalog.apply(index: index, payload: CatalogEntry(timestampMs: 1_000, command: command).encoded())
        }
    }

    static func bootstrapped(_ count: Int) -> Harness {
        var harness = Harness()
        #expect(harness.apply(.bootstrap(clusterID: "local", nodes: nodes(count))) == .bootstrapped)
        return harness
    }

    @Test func bootstrapHappensOnceAndComesFirst() {
        var harness = Harness()
        #expect(harness.apply(.allocateProducer) == .rejected(.notBootstrapped))
        #expect(harness.apply(.bootstrap(clusterID: "c", nodes: Self.nodes(3))) == .bootstrapped)
        #expect(harness.apply(.bootstrap(clusterID: "c", nodes: Self.nodes(3))) == .rejected(.alreadyBootstrapped))
        var duplicate = Harness()
        guard
            case .rejected(.invalidNodes) = duplicate.apply(
                .bootstrap(clusterID: "c", nodes: Self.nodes(2) + Self.nodes(1))
            )
        else { return #expect(Bool(false)) }
    }

    @Test func partitionsGetThreeReplicasAndEvenlySpreadPreferredLeaders() {
        var harness = Self.bootstrapped(5)
        for n in 0..<5 {
            guard
                case .queueCreated(let queue) = harness.apply(
                    .createQueue(name: "q\(n)", partitions: 4, attributes: QueueAttributes())
                )
            else {
                return #expect(Bool(false))
            }
            #expect(queue.partitions.allSatisfy { $0.replicas.count == 3 && Set($0.replicas).count == 3 })
            #expect(queue.partitions.allSatisfy { $0.replicas.first == $0.preferredLeader })
        }
        var leaders: [UInt64: Int] = [:]
        var replicas: [UInt64: Int] = [:]
        for queue in harness.catalog.sortedQueues {
            for partition in queue.partitions {
                leaders[partition.preferredLeader, default: 0] += 1
                for replica in partition.replicas { replicas[replica, default: 0] += 1 }
            }
        }
        #expect(Set(leaders.values) == [4], "20 partitions over 5 nodes: 4 preferred leaderships each")
        #expect(Set(replicas.values) == [12])
        let groups = harness.catalog.sortedQueues.flatMap { $0.partitions.map(\.groupID) }
        #expect(Set(groups).count == 20 && !groups.contains(Catalog.metadataGroup))
    }

    @Test func smallClustersReplicateOnEveryNode() {
        var harness = Self.bootstrapped(1)
        guard
            case .queueCreated(let queue) = harness.apply(
                .createQueue(name: "solo", partitions: 2, attributes: QueueAttributes())
            )
        else {
            return #expect(Bool(false))
        }
        #expect(queue.partitions.allSatisfy { $0.replicas == [1] })
    }

    @Test func createIsIdempotentLikeSQSAndConflictsAreTyped() {
        var harness = Self.bootstrapped(3)
        guard
            case .queueCreated(let first) = harness.apply(
                .createQueue(name: "orders.fifo", partitions: 4, attributes: QueueAttributes())
            )
        else {
            return #expect(Bool(false))
        }
        #expect(
            harness.apply(.createQueue(name: "orders.fifo", partitions: 4, attributes: QueueAttributes()))
                == .queueExists(first)
        )
        var other = QueueAttributes()
        other.visibilityTimeoutSeconds = 99
        #expect(
            harness.apply(.createQueue(name: "orders.fifo", partitions: 4, attributes: other))
                == .rejected(.queueAlreadyExists("orders.fifo"))
        )
        #expect(
            harness.apply(.createQueue(name: "x", partitions: 0, attributes: QueueAttributes()))
                == .rejected(.invalidPartitionCount(0))
        )
        guard
            case .rejected(.invalid(.invalidQueueName)) = harness.apply(
                .createQueue(name: "bad name", partitions: 1, attributes: QueueAttributes())
            )
        else {
            return #expect(Bool(false))
        }
        #expect(harness.catalog.queues.count == 1, "refused creates change nothing")
    }

    @Test func deletedQueueIDsAreNeverReused() {
        var harness = Self.bootstrapped(3)
        guard
            case .queueCreated(let first) = harness.apply(
                .createQueue(name: "q", partitions: 1, attributes: QueueAttributes())
            )
        else {
            return #expect(Bool(false))
        }
        #expect(harness.apply(.deleteQueue(name: "q")) == .queueDeleted(first))
        #expect(harness.apply(.deleteQueue(name: "q")) == .rejected(.queueNotFound("q")))
        guard
            case .queueCreated(let second) = harness.apply(
                .createQueue(name: "q", partitions: 1, attributes: QueueAttributes())
            )
        else {
            return #expect(Bool(false))
        }
        #expect(second.id != first.id && second.partitions[0].groupID != first.partitions[0].groupID)
    }

    @Test func redrivePoliciesNeedAnExistingAllowingDeadLetterQueue() {
        var harness = Self.bootstrapped(3)
        var source = QueueAttributes()
        source.redrivePolicy = RedrivePolicy(deadLetterQueue: "dlq.fifo", maxReceiveCount: 3)
        guard
            case .rejected(.deadLetterQueueRefused) = harness.apply(
                .createQueue(name: "orders.fifo", partitions: 1, attributes: source)
            )
        else {
            return #expect(Bool(false))
        }
        var dlq = QueueAttributes()
        dlq.redriveAllowPolicy = .byQueue(["billing.fifo"])
        _ = harness.apply(.createQueue(name: "dlq.fifo", partitions: 1, attributes: dlq))
        guard
            case .rejected(.deadLetterQueueRefused) = harness.apply(
                .createQueue(name: "orders.fifo", partitions: 1, attributes: source)
            )
        else {
            return #expect(Bool(false))
        }
        dlq.redriveAllowPolicy = .allowAll
        guard case .attributesSet = harness.apply(.setAttributes(name: "dlq.fifo", attributes: dlq)) else {
            return #expect(Bool(false))
        }
        guard case .queueCreated = harness.apply(.createQueue(name: "orders.fifo", partitions: 1, attributes: source))
        else {
            return #expect(Bool(false))
        }
    }

    @Test func producersGetIDsAndEpochs() {
        var harness = Self.bootstrapped(3)
        #expect(harness.apply(.allocateProducer) == .producer(id: 1, epoch: 0))
        #expect(harness.apply(.allocateProducer) == .producer(id: 2, epoch: 0))
        #expect(harness.apply(.bumpProducerEpoch(1)) == .producer(id: 1, epoch: 1))
        #expect(harness.apply(.bumpProducerEpoch(9)) == .rejected(.unknownProducer(9)))
    }

    @Test func keysAreCreatedRevokedAndRotatedAndBadOnesChangeNothing() throws {
        var harness = Self.bootstrapped(3)
        let id = "AKFRKEY0000000000001"
        let created = harness.apply(
            .changeKeys(.create(id: id, secret: "secret-0123456789abcdef", account: "123456789012", admin: true))
        )
        #expect(
            created
                == .keyChanged(
                    AccessKeyInfo(id: id, account: "123456789012", admin: true, createdAtMs: 1_000, previousUntilMs: 0)
                )
        )
        #expect(harness.catalog.keys[id]?.secrets(atMs: 5_000) == ["secret-0123456789abcdef"])
        let before = harness.catalog
        for (change, refusal) in [
            (
                KeyChange.create(id: id, secret: "another-secret-0123456", account: "123456789012", admin: false),
                CatalogError.keyExists(id)
            ),
            (
                .create(id: "short", secret: "secret-0123456789abcdef", account: "123456789012", admin: false),
                .invalidKey("a key id is 16…128 upper-case letters and digits")
            ),
            (
                .create(id: "AKFRKEY0000000000002", secret: "short", account: "123456789012", admin: false),
                .invalidKey("a secret is 16…128 printable ASCII characters")
            ),
            (
                .create(id: "AKFRKEY0000000000002", secret: "secret-0123456789abcdef", account: "12", admin: false),
                .invalidKey("an account id is 12 digits")
            ),
            (.revoke(id: "AKFRNOSUCHKEY0000000"), .keyNotFound("AKFRNOSUCHKEY0000000")),
            (.rotate(id: id, secret: "new-secret-0123456789", graceMs: -1), .invalidKey("grace 0…7 days")),
        ] {
            #expect(harness.apply(.changeKeys(change)) == .rejected(refusal))
        }
        #expect(harness.catalog.keys == before.keys, "a refused change leaves the keys as they were")
        #expect(harness.catalog.snapshot().readableBytes == before.snapshot().readableBytes)
        // Rotation: both secrets verify until the grace ends (entry time 1_000 + 60_000), then the new one only.
        _ = harness.apply(.changeKeys(.rotate(id: id, secret: "new-secret-0123456789", graceMs: 60_000)))
        #expect(
            harness.catalog.keys[id]?.secrets(atMs: 60_999) == ["new-secret-0123456789", "secret-0123456789abcdef"]
        )
        #expect(harness.catalog.keys[id]?.secrets(atMs: 61_000) == ["new-secret-0123456789"])
        // Keys survive a snapshot; a revoked key is gone.
        let restored = try Catalog.restore(from: harness.catalog.snapshot())
        #expect(restored.keys == harness.catalog.keys)
        guard case .keyChanged = harness.apply(.changeKeys(.revoke(id: id))) else { return #expect(Bool(false)) }
        #expect(harness.catalog.keys.isEmpty)
    }

    @Test func snapshotRestoresTheSameCatalogAndNextIDs() throws {
        var harness = Self.bootstrapped(3)
        for n in 0..<4 {
            _ = harness.apply(.createQueue(name: "q\(n)", partitions: UInt32(n + 1), attributes: QueueAttributes()))
        }
        _ = harness.apply(.allocateProducer)
        let bytes = harness.catalog.snapshot()
        var restored = Harness(catalog: try Catalog.restore(from: bytes), index: harness.index)
        #expect(restored.catalog == harness.catalog)
        #expect(restored.apply(.allocateProducer) == harness.apply(.allocateProducer))
        #expect(
            restored.apply(.createQueue(name: "z", partitions: 2, attributes: QueueAttributes()))
                == harness.apply(.createQueue(name: "z", partitions: 2, attributes: QueueAttributes()))
        )
        for cut in stride(from: 0, to: bytes.readableBytes, by: 7) {
            #expect(throws: QueueDecodeError.self) { try Catalog.restore(from: bytes.getSlice(at: 0, length: cut)!) }
        }
    }

    @Test func groupPartitionHashIsWrittenDown() {
        // FNV-1a 64 of the group id, mod the partition count: these values must never change.
        #expect(
            Catalog.partition(forGroup: "cust-42", partitions: 4)
                == Catalog.partition(forGroup: "cust-42", partitions: 4)
        )
        let spread = Set((0..<1_000).map { Catalog.partition(forGroup: "g\($0)", partitions: 8) })
        #expect(spread.count == 8)
        #expect(Catalog.partition(forGroup: "", partitions: 4) == UInt32(UInt64(0xcbf2_9ce4_8422_2325) % 4))
    }
}
