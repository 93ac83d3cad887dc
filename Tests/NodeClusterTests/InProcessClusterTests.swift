import Dispatch
import FerryClient
import FerryModel
import FerryNode
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Three real nodes (in this process, over loopback TCP, each with its own storage and Raft thread), driven
/// through `FerryClient`.
@Suite(.serialized) struct InProcessClusterTests {
    static func body(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    @Test func aQueueDeliversEachGroupInOrderAcrossALeaderKillAndTheNodeCatchesUp() throws {
        let cluster = LocalCluster(name: "order")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("orders.fifo", partitions: 2)
        #expect(queue.partitions == 2)

        // 60 messages over 6 groups, in two halves with the leader of partition 0 crashed between them.
        var sent: [String: [String]] = [:]
        func send(_ range: Range<Int>) throws {
            for n in range {
                let group = "g\(n % 6)"
                let request = SendRequest(body: Self.body("m\(n)"), groupID: group, deduplicationID: "d\(n)")
                let results = try client.send(queue.name, [request])
                guard case .success(.enqueued)? = results.first else {
                    Issue.record("send \(n) answered \(results)")
                    continue
                }
                sent[group, default: []].append("m\(n)")
            }
        }
        try send(0..<30)
        let leader = cluster.statuses(client).values.lazy.compactMap {
            $0.groups.first { $0.queue == queue.name && $0.partition == 0 && $0.leader != 0 }?.leader
        }.first
        let killed = try #require(leader, "partition 0 has a leader")
        cluster.crash(killed)
        try send(30..<60)
        #expect(sent.values.map(\.count).reduce(0, +) == 60)

        var received: [String: [String]] = [:]
        let end = LocalCluster.nowMs() + 20_000
        while received.values.map(\.count).reduce(0, +) < 60 && LocalCluster.nowMs() < end {
            let batch = try client.receive(queue.name, maxMessages: 10, waitMs: 300)
            for (_, delivery) in batch {
                received[delivery.groupID!, default: []].append(String(buffer: delivery.body))
            }
            for partition in Set(batch.map(\.partition)) {
                let handles = batch.filter { $0.partition == partition }.map(\.delivery.handle)
                let deleted = try client.delete(queue.name, partition: partition, handles)
                #expect(deleted.allSatisfy { if case .success = $0 { true } else { false } })
            }
        }
        #expect(received == sent, "every acknowledged message exactly once, each group in send order")

        // The killed node comes back on its data directory and catches up with the others.
        try cluster.start(killed)
        let catchUpEnd = LocalCluster.nowMs() + 10_000
        var caughtUp = false
        while !caughtUp && LocalCluster.nowMs() < catchUpEnd {
            usleep(100_000)
            let statuses = cluster.statuses(client)
            let applied = statuses.values.map {
                $0.groups.first { $0.queue == queue.name && $0.partition == 0 }?.appliedIndex ?? 0
            }
            caughtUp = statuses.count == 3 && Set(applied).count == 1 && applied[0] > 0
        }
        #expect(caughtUp, "the restarted node applied what the others applied")
    }

    @Test func aNodeStoppedGracefullyHandsOffItsLeadershipsWithNoFailedSend() throws {
        let cluster = LocalCluster(name: "handoff")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("handoff.fifo", partitions: 3)
        func sendAll(_ range: Range<Int>) throws -> Int {
            var acknowledged = 0
            for n in range {
                let request = SendRequest(body: Self.body("m\(n)"), groupID: "g\(n % 5)", deduplicationID: "d\(n)")
                if case .success(.enqueued)? = try client.send(queue.name, [request]).first { acknowledged += 1 }
            }
            return acknowledged
        }
        #expect(try sendAll(0..<20) == 20)
        let leaders = cluster.statuses(client).values.flatMap { status in
            status.groups.filter { $0.queue == queue.name && $0.leader == status.nodeID }.map { _ in status.nodeID }
        }
        let busiest = try #require(
            leaders.max { a, b in leaders.filter { $0 == a }.count < leaders.filter { $0 == b }.count }
        )
        cluster.stop(busiest)  // graceful: transfers its leaderships first
        #expect(try sendAll(20..<40) == 20, "every send acknowledged, none refused or ambiguous")
        let (statistics, _) = try client.statistics(queue.name)
        #expect(statistics.visible == 40 && statistics.inFlight == 0 && statistics.sent == 40)
        let after = cluster.statuses(client)
        #expect(after[busiest] == nil)
        for status in after.values {
            for group in status.groups where group.queue == queue.name {
                #expect(group.leader != busiest && group.leader != 0)
            }
        }
    }

    @Test func aNodeRestartedAfterItsPeersCompactedCatchesUpBySnapshot() throws {
        let cluster = LocalCluster(name: "snapshot")
        cluster.snapshotEveryEntries = 100
        cluster.entriesKeptAfterSnapshot = 5
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("snap.fifo", partitions: 1)
        cluster.crash(3)
        // 300 entries while node 3 is down: the others snapshot and drop all but 5 entries below.
        var sent: [String] = []
        for n in 0..<300 {
            let request = SendRequest(body: Self.body("m\(n)"), groupID: "g", deduplicationID: "d\(n)")
            guard case .success(.enqueued)? = try client.send(queue.name, [request]).first else { continue }
            sent.append("m\(n)")
        }
        #expect(sent.count == 300)
        try cluster.start(3)
        // Node 3 catches up (from a snapshot: the log it needs is gone), then must serve as one of a majority.
        let end = LocalCluster.nowMs() + 15_000
        var caughtUp = false
        while !caughtUp && LocalCluster.nowMs() < end {
            usleep(100_000)
            let statuses = cluster.statuses(client)
            let applied = statuses.values.map { $0.groups.first { $0.queue == queue.name }?.appliedIndex ?? 0 }
            caughtUp = statuses.count == 3 && Set(applied).count == 1
        }
        #expect(caughtUp)
        let leader = cluster.statuses(client)[3]?.groups.first { $0.queue == queue.name }?.leader ?? 0
        cluster.stop(leader == 3 ? 1 : (leader == 0 ? 1 : leader))
        var received: [String] = []
        let receiveEnd = LocalCluster.nowMs() + 20_000
        while received.count < 300 && LocalCluster.nowMs() < receiveEnd {
            let batch = try client.receive(queue.name, maxMessages: 10, waitMs: 300)
            received += batch.map { String(buffer: $0.delivery.body) }
            if !batch.isEmpty { _ = try client.delete(queue.name, partition: 0, batch.map(\.delivery.handle)) }
        }
        #expect(received == sent, "node 3's restored state serves every message, in order")
    }

    @Test func aMessagePastMaxReceiveCountReachesTheDeadLetterQueueOnce() throws {
        let cluster = LocalCluster(name: "dlq")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        _ = try client.createQueue("orders-dlq.fifo", partitions: 2)
        var attributes = QueueAttributes()
        attributes.redrivePolicy = RedrivePolicy(deadLetterQueue: "orders-dlq.fifo", maxReceiveCount: 1)
        let source = try client.createQueue("orders.fifo", partitions: 2, attributes: attributes)
        for n in 0..<3 {
            let request = SendRequest(body: Self.body("poison \(n)"), groupID: "g", deduplicationID: "p\(n)")
            _ = try client.send(source.name, [request])
        }
        // Each receive hands out the group's messages once; the consumer never deletes them.
        let first = try client.receive(source.name, maxMessages: 10, waitMs: 2_000, visibilityTimeoutSeconds: 1)
        #expect(first.count == 3)
        usleep(1_200_000)
        // The next receive would exceed maxReceiveCount: the messages move to the outbox, then to the DLQ.
        #expect(try client.receive(source.name, maxMessages: 10, waitMs: 500).isEmpty)
        var dead: [String] = []
        let end = LocalCluster.nowMs() + 10_000
        while dead.count < 3 && LocalCluster.nowMs() < end {
            let batch = try client.receive("orders-dlq.fifo", maxMessages: 10, waitMs: 500)
            dead += batch.map { String(buffer: $0.delivery.body) }
            for (partition, delivery) in batch {
                #expect(delivery.origin?.sourceQueue == source.name)
                _ = try client.delete("orders-dlq.fifo", partition: partition, [delivery.handle])
            }
        }
        #expect(dead == ["poison 0", "poison 1", "poison 2"], "in order, each once")
        // The source forgets the moves once the DLQ committed them (its acknowledgement is an entry too).
        var statistics = try client.statistics(source.name).0
        let ackEnd = LocalCluster.nowMs() + 5_000
        while statistics.outbox > 0 && LocalCluster.nowMs() < ackEnd {
            usleep(50_000)
            statistics = try client.statistics(source.name).0
        }
        #expect(statistics.outbox == 0 && statistics.deadLettered == 3)
    }

    /// A long poll waits on every partition at once: a message sent during the wait is received whichever
    /// partition its group lands on (a receive that long-polled one partition missed the others until its end).
    @Test func aLongPollReceivesAMessageSentToAnyPartitionDuringTheWait() throws {
        let cluster = LocalCluster(name: "longpoll")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let producer = try cluster.client()
        let queue = try client.createQueue("poll.fifo", partitions: 4)
        var partitions: Set<UInt32> = []
        for i in 0..<8 {
            let received = NIOLockedValueBox<[String]?>(nil)
            DispatchQueue.global().async {
                let bodies: [String]
                do {
                    bodies = try client.receive(queue.name, maxMessages: 10, waitMs: 15_000).map {
                        String(buffer: $0.delivery.body)
                    }
                } catch {
                    bodies = ["receive failed: \(error)"]
                }
                received.withLockedValue { $0 = bodies }
            }
            usleep(300_000)
            let outcome = try producer.send(
                queue.name,
                [SendRequest(body: Self.body("poll \(i)"), groupID: "group-\(i)", deduplicationID: "poll-\(i)")]
            )
            if case .success(.enqueued(let position)) = outcome.first { partitions.insert(position.partition) }
            while received.withLockedValue({ $0 }) == nil { usleep(10_000) }
            #expect(received.withLockedValue { $0 } == ["poll \(i)"], "the wait ended with the message, not empty")
        }
        #expect(partitions.count > 1, "the messages went to several partitions")
    }

    /// `receiveIfFull` receives only a batch the partition can fill alone: short of it, it answers what a receive
    /// could give and takes nothing into flight; a request attempt id is refused (a retried attempt must go where
    /// the attempt is remembered).
    @Test func aReceiveIfFullTakesOnlyAWholeBatch() throws {
        let cluster = LocalCluster(name: "whole")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("whole", partitions: 1)
        _ = try client.send(queue.name, (0..<3).map { SendRequest(body: Self.body("m\($0)")) })
        func inFlight() -> Int? {
            guard
                case .statistics(let statistics, _)? = cluster.rawCall(
                    .queueStatistics(queue: queue.name, partition: 0)
                )
            else { return nil }
            return statistics.inFlight
        }
        let short = cluster.rawCall(
            .receiveIfFull(queue: queue.name, partition: 0, request: ReceiveRequest(maxMessages: 4))
        )
        guard case .deliverable(let summary)? = short else {
            Issue.record("a receive of 4 from 3 messages answered \(String(describing: short))")
            return
        }
        #expect(summary.count == 3)
        #expect(inFlight() == 0)
        let whole = cluster.rawCall(
            .receiveIfFull(queue: queue.name, partition: 0, request: ReceiveRequest(maxMessages: 3))
        )
        guard case .received(let deliveries)? = whole else {
            Issue.record("a receive of 3 from 3 messages answered \(String(describing: whole))")
            return
        }
        #expect(deliveries.map { String(buffer: $0.body) }.sorted() == ["m0", "m1", "m2"])
        #expect(inFlight() == 3)
        let attempt = cluster.rawCall(
            .receiveIfFull(
                queue: queue.name,
                partition: 0,
                request: ReceiveRequest(maxMessages: 1, requestAttemptID: "a")
            )
        )
        guard case .error(let refused)? = attempt else {
            Issue.record("a receive with an attempt id answered \(String(describing: attempt))")
            return
        }
        #expect(refused.code == .invalidArgument)
    }

    @Test func aProducerSessionKeepsGroupOrderAcrossALeaderCrash() throws {
        let cluster = LocalCluster(name: "session")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("session.fifo", partitions: 2)
        let session = try ProducerSession(client: client, queue: queue.name)
        var sent: [String: [String]] = [:]
        func send(_ range: Range<Int>) throws {
            for start in stride(from: range.lowerBound, to: range.upperBound, by: 5) {
                let batch = (start..<min(range.upperBound, start + 5)).map {
                    SendRequest(body: Self.body("s\($0)"), groupID: "g\($0 % 4)", deduplicationID: "sd\($0)")
                }
                for (request, outcome) in zip(batch, try session.send(batch)) {
                    guard case .success = outcome else {
                        Issue.record("session send answered \(outcome)")
                        continue
                    }
                    sent[request.groupID!, default: []].append(String(buffer: request.body))
                }
            }
        }
        try send(0..<40)
        let leader = cluster.statuses(client).values.lazy.compactMap {
            $0.groups.first { $0.queue == queue.name && $0.leader != 0 }?.leader
        }.first
        cluster.crash(try #require(leader))
        try send(40..<80)
        var received: [String: [String]] = [:]
        let end = LocalCluster.nowMs() + 15_000
        while received.values.map(\.count).reduce(0, +) < 80 && LocalCluster.nowMs() < end {
            let batch = try client.receive(queue.name, maxMessages: 10, waitMs: 300)
            for (_, delivery) in batch {
                received[delivery.groupID!, default: []].append(String(buffer: delivery.body))
            }
            for partition in Set(batch.map(\.partition)) {
                _ = try client.delete(
                    queue.name,
                    partition: partition,
                    batch.filter { $0.partition == partition }.map(\.delivery.handle)
                )
            }
        }
        #expect(received == sent, "every session send once, each group in order, across the crash")
        #expect(sent.values.map(\.count).reduce(0, +) == 80)
    }

    /// Regression (found by the chaos kill-all scenario): a node that comes back without the queue's creation in
    /// its applied metadata must not answer `queueNotFound` for a queue that exists — a client that knows the
    /// queue would take it as a definitive refusal — but a retriable refusal until it has caught up.
    @Test func aNodeCatchingUpNeverSaysAnExistingQueueIsMissing() throws {
        let cluster = LocalCluster(name: "catchup")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        cluster.crash(3)
        let queue = try client.createQueue("late.fifo", partitions: 1)
        try cluster.start(3)
        let member = cluster.members[2]
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? loops.syncShutdownGracefully() }
        let connection = try Connection(host: member.host, port: Int(member.clientPort), group: loops)
        defer { connection.close() }
        let request = SendRequest(body: Self.body("x"), groupID: "g", deduplicationID: "x")
        var answers: [ErrorCode: Int] = [:]
        let end = LocalCluster.nowMs() + 1_500
        while LocalCluster.nowMs() < end {
            let response = try connection.call(
                .send(queue: queue.name, partition: 0, requests: [request]),
                timeoutMs: 3_000
            )
            if case .error(let error) = response { answers[error.code, default: 0] += 1 }
        }
        #expect(answers[.queueNotFound] == nil, "answers while catching up: \(answers)")
    }

    @Test func badRequestsGetTypedErrors() throws {
        let cluster = LocalCluster(name: "errors")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("jobs", partitions: 1)
        #expect(throws: FerryClientError.server(WireError(.queueNotFound, "queue nope does not exist"))) {
            try client.send("nope", [SendRequest(body: Self.body("x"))])
        }
        let tooMany = (0..<11).map { _ in SendRequest(body: Self.body("x")) }
        guard case .error(let batch)? = cluster.rawCall(.send(queue: queue.name, partition: 0, requests: tooMany))
        else {
            return #expect(Bool(false))
        }
        #expect(batch.code == .tooManyEntries)
        var bad = QueueAttributes()
        bad.visibilityTimeoutSeconds = 50_000
        let attempt = Result<QueueDescription, FerryClientError> { () throws(FerryClientError) in
            try client.createQueue("x", partitions: 1, attributes: bad)
        }
        guard case .failure(.server(let error)) = attempt else {
            Issue.record("a visibility of 50,000 s answered \(attempt)")
            return
        }
        #expect(error.code == .invalidArgument)

        // FIFO without a deduplication id: refused, unless the queue deduplicates by content (SHA-256 of the body,
        // computed by the node: "abc" is the FIPS 180-2 test vector).
        let plain = try client.createQueue("plain.fifo", partitions: 1)
        let noID = SendRequest(body: Self.body("abc"), groupID: "g")
        guard case .failure(let refused)? = try client.send(plain.name, [noID]).first else {
            return #expect(Bool(false))
        }
        #expect(refused.code == .invalidArgument)
        var content = QueueAttributes()
        content.contentBasedDeduplication = true
        let deduplicated = try client.createQueue("content.fifo", partitions: 1, attributes: content)
        let first = try client.send(deduplicated.name, [noID]).first
        let second = try client.send(deduplicated.name, [noID]).first
        guard case .success(.enqueued(let position))? = first else { return #expect(Bool(false)) }
        #expect(second == .success(.duplicate(position)))
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        let status = cluster.rawCall(
            .sendStatus(queue: deduplicated.name, partition: 0, deduplicationID: sha, groupID: nil)
        )
        guard case .sendStatus(.accepted(let accepted, _))? = status else {
            Issue.record("send status by the body's SHA-256 answered \(String(describing: status))")
            return
        }
        #expect(accepted == position)
    }

    @Test func aSecondProcessOnTheSameDataDirectoryIsRefused() throws {
        let cluster = LocalCluster(nodes: 1, name: "lock")
        try cluster.start(1)
        defer { cluster.stopAll() }
        #expect(throws: ConfigError.self) { try FerryNodeServer(config: cluster.config(1)) }
    }

    @Test func configErrorsNameTheField() {
        #expect(throws: ConfigError(field: "members[0].peer_port", reason: "missing")) {
            try NodeConfig.parse(
                yaml:
                    "node_id: 1\ncluster_id: c\ndata_dir: /tmp/x\nmembers:\n  - {id: 1, host: h, client_port: 1, http_port: 2}\n"
            )
        }
        var config = NodeConfig(
            nodeID: 4,
            clusterID: "c",
            dataDirectory: "/tmp/x",
            members: [MemberConfig(id: 1, host: "127.0.0.1", peerPort: 1, clientPort: 2, httpPort: 3)]
        )
        #expect(throws: ConfigError(field: "node_id", reason: "4 is not among the members")) { try config.validate() }
        config.nodeID = 1
        config.fsync = "sometimes"
        #expect(throws: ConfigError.self) { try config.validate() }
        config.fsync = "always"
        config.clientAuth = "maybe"
        #expect(throws: ConfigError(field: "client_auth", reason: "keys or none, not maybe")) { try config.validate() }
        config.clientAuth = "keys"
        #expect(throws: ConfigError.self, "keys without a root key") { try config.validate() }
        config.tls = TLSConfig(certFile: "/nonexistent/node.pem", keyFile: "/nonexistent/node.key", caFile: "/x.pem")
        config.clientAuth = "none"
        config.dataDirectory = "/tmp/ferry-tls-config-\(getpid())"
        defer {
            _ = unlink(config.dataDirectory + "/LOCK")
            _ = rmdir(config.dataDirectory)
        }
        // A TLS file that cannot be read is named at start.
        #expect {
            try FerryNodeServer(config: config)
        } throws: { error in
            (error as? ConfigError)?.field == "tls.cert_file"
        }
    }
}
