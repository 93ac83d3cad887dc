import FerryNode
import FerryQueue
import FerryWire
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Three real nodes (in this process, over loopback TCP, each with its own storage and Raft thread).
@Suite(.serialized) struct ClusterTests {
    static func body(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    /// Creates a queue through whichever node leads the metadata group, and waits until every partition has a
    /// leader that answers.
    static func createQueue(_ client: TestClient, _ name: String, partitions: UInt32) -> QueueDescription? {
        let created = client.callLeader(.createQueue(name: name, partitions: partitions, attributes: QueueAttributes()))
        {
            if case .queue = $0 { return true }
            return false
        }
        guard case .queue(let queue)? = created else {
            Issue.record("create answered \(String(describing: created))")
            return nil
        }
        return queue
    }

    @Test func aQueueAcceptsSendsAndDeliversEachGroupInOrderAcrossALeaderKill() throws {
        let cluster = LocalCluster(name: "order")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = TestClient(members: cluster.members)
        guard let queue = Self.createQueue(client, "orders.fifo", partitions: 2) else { return }
        #expect(queue.partitions == 2)

        // 60 messages over 6 groups, in two halves with a leader kill between them.
        var sent: [String: [String]] = [:]
        func send(_ range: Range<Int>) {
            for n in range {
                let group = "g\(n % 6)"
                let partition = Catalog.partition(forGroup: group, partitions: queue.partitions)
                let request = SendRequest(body: Self.body("m\(n)"), groupID: group, deduplicationID: "d\(n)")
                let answer = client.callLeader(.send(queue: queue.name, partition: partition, requests: [request])) {
                    if case .sent = $0 { return true }
                    return false
                }
                guard case .sent(let results)? = answer, case .success? = results.first else {
                    Issue.record("send \(n) answered \(String(describing: answer))")
                    continue
                }
                sent[group, default: []].append("m\(n)")
            }
        }
        send(0..<30)
        // Kill the leader of partition 0 and keep sending: the other nodes elect a new one.
        guard case .nodeStatus(let status)? = client.callLeader(.nodeStatus) else { return }
        let partitionGroup = status.groups.first { $0.queue == queue.name && $0.partition == 0 }
        let killed = partitionGroup?.leader ?? 0
        #expect(killed != 0, "partition 0 has a leader")
        cluster.stop(killed)
        send(30..<60)
        #expect(sent.values.map(\.count).reduce(0, +) == 60)

        var received: [String: [String]] = [:]
        let end = LocalCluster.nowMs() + 20_000
        while received.values.map(\.count).reduce(0, +) < 60 && LocalCluster.nowMs() < end {
            for partition in 0..<queue.partitions {
                let answer = client.callLeader(
                    .receive(
                        queue: queue.name,
                        partition: partition,
                        request: ReceiveRequest(maxMessages: 10),
                        waitMs: 200
                    )
                ) {
                    if case .received = $0 { return true }
                    return false
                }
                guard case .received(let deliveries)? = answer, !deliveries.isEmpty else { continue }
                for delivery in deliveries {
                    received[delivery.groupID!, default: []].append(String(buffer: delivery.body))
                }
                _ = client.callLeader(
                    .delete(queue: queue.name, partition: partition, handles: deliveries.map(\.handle))
                )
            }
        }
        #expect(received == sent, "every acknowledged message exactly once, each group in send order")

        // The killed node comes back on its data directory and catches up with the others.
        try cluster.start(killed)
        let end2 = LocalCluster.nowMs() + 10_000
        var caughtUp = false
        while !caughtUp && LocalCluster.nowMs() < end2 {
            usleep(100_000)
            let statuses = cluster.members.compactMap { member -> NodeStatus? in
                guard case .nodeStatus(let status)? = client.call(member.id, .nodeStatus) else { return nil }
                return status
            }
            let applied = statuses.map {
                $0.groups.first { $0.queue == queue.name && $0.partition == 0 }?.appliedIndex ?? 0
            }
            caughtUp = statuses.count == 3 && Set(applied).count == 1 && applied[0] > 0
        }
        #expect(caughtUp, "the restarted node applied what the others applied")
    }

    @Test func badRequestsGetTypedErrors() throws {
        let cluster = LocalCluster(name: "errors")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = TestClient(members: cluster.members)
        guard let queue = Self.createQueue(client, "jobs", partitions: 1) else { return }
        let missing = client.callLeader(
            .send(queue: "nope", partition: 0, requests: [SendRequest(body: Self.body("x"))])
        )
        guard case .error(let error)? = missing else { return #expect(Bool(false)) }
        #expect(error.code == .queueNotFound)
        let tooMany = (0..<11).map { _ in SendRequest(body: Self.body("x")) }
        guard case .error(let batch)? = client.callLeader(.send(queue: queue.name, partition: 0, requests: tooMany))
        else {
            return #expect(Bool(false))
        }
        #expect(batch.code == .tooManyEntries)
        var bad = QueueAttributes()
        bad.visibilityTimeoutSeconds = 50_000
        guard case .error(let attribute)? = client.callLeader(.createQueue(name: "x", partitions: 1, attributes: bad))
        else {
            return #expect(Bool(false))
        }
        #expect(attribute.code == .invalidArgument)
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
            members: [
                MemberConfig(id: 1, host: "127.0.0.1", peerPort: 1, clientPort: 2, httpPort: 3)
            ]
        )
        #expect(throws: ConfigError(field: "node_id", reason: "4 is not among the members")) { try config.validate() }
        config.nodeID = 1
        config.fsync = "sometimes"
        #expect(throws: ConfigError.self) { try config.validate() }
    }
}
