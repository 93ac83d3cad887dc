import FerryClient
import FerryModel
import FerryNode
import FerryRouter
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Nodes joining and leaving a running cluster (issue 16), in this process at real time: a fourth node is
/// added and replicas move onto it (learner, caught up, voter, old replica dropped), then a founder is removed
/// and its replicas move away, with every message sent before kept, once, in group order.
@Suite(.serialized) struct MembershipClusterTests {
    /// Waits (up to `seconds`) until every partition's leader reports exactly its wanted voters and no learner,
    /// and `extra` holds; returns whether it did.
    static func settled(
        _ cluster: LocalCluster,
        _ client: FerryClient,
        seconds: Int64,
        _ extra: (ClusterDescription) -> Bool = { _ in true }
    ) -> Bool {
        let end = LocalCluster.nowMs() + seconds * 1_000
        while LocalCluster.nowMs() < end {
            if let description = try? client.describe(), extra(description) {
                var led: [UInt64: GroupStatus] = [:]
                for status in cluster.statuses(client).values {
                    for group in status.groups where group.leader == status.nodeID { led[group.groupID] = group }
                }
                let done = description.partitions.allSatisfy { partition in
                    guard let group = led[partition.groupID] else { return false }
                    return group.voters.sorted() == partition.replicas.sorted() && group.learners.isEmpty
                }
                if done { return true }
            }
            usleep(200_000)
        }
        return false
    }

    /// Sends `count` numbered messages over `groups` message groups; returns each group's bodies in send order.
    static func sendNumbered(
        _ client: FerryClient,
        _ queue: String,
        count: Int,
        groups: Int
    ) throws -> [String: [String]] {
        var sent: [String: [String]] = [:]
        for n in 0..<count {
            let group = "g\(n % groups)"
            let request = SendRequest(
                body: InProcessClusterTests.body("m\(n)"),
                groupID: group,
                deduplicationID: "d\(n)"
            )
            guard case .success(.enqueued)? = try client.send(queue, [request]).first else {
                Issue.record("send \(n) failed")
                continue
            }
            sent[group, default: []].append("m\(n)")
        }
        return sent
    }

    /// Receives and deletes until `count` messages came (or 30 s passed); each group's bodies in delivery order.
    static func receiveAll(_ client: FerryClient, _ queue: String, count: Int) -> [String: [String]] {
        var received: [String: [String]] = [:]
        let end = LocalCluster.nowMs() + 30_000
        while received.values.map(\.count).reduce(0, +) < count && LocalCluster.nowMs() < end {
            guard let batch = try? client.receive(queue, maxMessages: 10, waitMs: 300) else { continue }
            for (partition, delivery) in batch {
                received[delivery.groupID!, default: []].append(String(buffer: delivery.body))
                _ = try? client.delete(queue, partition: partition, [delivery.handle])
            }
        }
        return received
    }

    @Test func aNodeJoinsAndAFounderLeavesWithEveryMessageKeptInOrder() throws {
        let cluster = LocalCluster(nodes: 4, founders: 3, name: "membership")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("moves.fifo", partitions: 4)
        let sent = try Self.sendNumbered(client, queue.name, count: 120, groups: 8)

        try cluster.start(4)
        try client.changeCluster(.addNode(cluster.members[3]))
        let joined = Self.settled(cluster, client, seconds: 60) { description in
            description.partitions.contains { $0.replicas.contains(4) }
        }
        #expect(joined, "node 4 holds replicas as a voter everywhere it is wanted")
        let onFour = cluster.statuses(client)[4]?.groups.filter { !$0.queue.isEmpty }.count ?? 0
        #expect(onFour == 3, "12 replicas over 4 nodes: 3 on the new node")

        // Every node is healthy, so a founder may leave: its replicas move to the others first.
        try client.changeCluster(.removeNode(1))
        let left = Self.settled(cluster, client, seconds: 60) { description in
            !description.nodes.contains { $0.id == 1 } && description.partitions.allSatisfy { !$0.replicas.contains(1) }
        }
        #expect(left, "node 1 holds nothing and is forgotten")
        cluster.stop(1)

        let received = Self.receiveAll(client, queue.name, count: 120)
        #expect(received == sent, "every message once, in group order")
    }

    /// A node whose disk was lost comes back as a new node under a new id and takes each of the old node's
    /// replicas (the old id never returns with an empty log); what was sent before is all there.
    @Test func aNodeWithAWipedDiskIsReplacedUnderANewID() throws {
        let cluster = LocalCluster(nodes: 4, founders: 3, name: "membership-replace")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("replace.fifo", partitions: 3)
        let sent = try Self.sendNumbered(client, queue.name, count: 60, groups: 6)
        // Node 3 loses its disk.
        cluster.crash(3)
        _ = try? FileManager.default.removeItem(atPath: "\(cluster.directory)/3")
        try cluster.start(4)
        try client.changeCluster(.replaceNode(old: 3, new: cluster.members[3]))
        let replaced = Self.settled(cluster, client, seconds: 60) { description in
            !description.nodes.contains { $0.id == 3 } && description.partitions.allSatisfy { $0.replicas.contains(4) }
        }
        #expect(replaced, "node 4 holds every replica node 3 held, and node 3 is forgotten")
        let received = Self.receiveAll(client, queue.name, count: 60)
        #expect(received == sent, "every message once, in group order")
    }

    /// A founder's own router (the one its SQS API sends through) reaches partitions whose leader joined after
    /// the founder started. Tests/deploy found it knowing only the members of its config: a send for a partition
    /// led by an added node retried the founders until its deadline and failed, and the SQS producer paused 30 s.
    @Test func aFoundersRouterReachesLeadersThatJoinedLater() async throws {
        let cluster = LocalCluster(nodes: 4, founders: 3, name: "membership-router")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        _ = try client.createQueue("routed.fifo", partitions: 4)
        try cluster.start(4)
        try client.changeCluster(.addNode(cluster.members[3]))
        let led = Self.settled(cluster, client, seconds: 60) { description in
            description.partitions.contains { $0.leader == 4 }
        }
        #expect(led, "node 4 leads a partition")
        let router = try #require(cluster.routers.withLockedValue { $0[1] })
        let requests = (0..<16).map {
            SendRequest(body: InProcessClusterTests.body("m\($0)"), groupID: "g\($0)", deduplicationID: "d\($0)")
        }
        let partitions = Set(requests.map { PartitionHash.partition(forGroup: $0.groupID!, partitions: 4) })
        #expect(partitions.count == 4, "the groups cover every partition")
        let results = try await router.send("routed.fifo", requests)
        for (n, result) in results.enumerated() {
            #expect((try? result.get()) != nil, "send \(n) through node 1's router: \(result)")
        }
    }

    /// Bad changes are refused with their reason and change nothing.
    @Test func badChangesAreRefused() throws {
        let cluster = LocalCluster(nodes: 3, name: "membership-bad")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        _ = try client.createQueue("bad.fifo", partitions: 2)
        #expect(throws: FerryClientError.self) { try client.changeCluster(.addNode(cluster.members[1])) }
        #expect(throws: FerryClientError.self) { try client.changeCluster(.removeNode(9)) }
        // With node 3 down, removing node 2 would leave groups with one healthy voter of three.
        cluster.crash(3)
        usleep(1_500_000)
        do {
            try client.changeCluster(.removeNode(2))
            Issue.record("removing node 2 with node 3 down was accepted")
        } catch {
            #expect("\(error)".contains("healthy"), "\(error)")
        }
        #expect(try client.describe().nodes.map(\.id).sorted() == [1, 2, 3])
    }
}
