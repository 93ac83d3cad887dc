import FerryClient
import FerryModel
import FerryNode
import FerryRouter
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// A node's own router (what its SQS API uses): this node's partitions through its Raft thread's mailbox, the
/// others' forwarded to their leaders over the peer connections; no client connection anywhere.
@Suite(.serialized) struct NodeRouterTests {
    static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Sends through one node reach every partition wherever it is led, also across a crash of another node;
    /// a long poll through a third node is woken by them; every message comes out once, in group order.
    @Test func aNodesRouterServesEveryPartitionAndFollowsLeadersAcrossACrash() async throws {
        let cluster = LocalCluster(name: "router")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("routed.fifo", partitions: 4)
        var leaders: [UInt64] = []
        // Generous: the machines are shared and have two cores.
        let elected = PartitionRouter.nowMs() + 30_000
        // The deadline is checked before a fresh look, never between the look and the verdict: a continuation
        // can wait long for a thread, and the last look must not be older than the deadline.
        while true {
            let late = PartitionRouter.nowMs() >= elected
            leaders = try client.describe().partitions.filter { $0.queueID == queue.id }.map(\.leader)
            if late || (leaders.count == 4 && !leaders.contains(0)) { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try #require(leaders.count == 4 && !leaders.contains(0), "every partition has a known leader: \(leaders)")
        // The node that leads the fewest partitions sends: at least three of the four are led elsewhere, and
        // their sends go over the peer connections.
        let sender = (1...3).map(UInt64.init).min { a, b in leaders.count { $0 == a } < leaders.count { $0 == b } }!
        let receiver = sender % 3 + 1
        let spare = receiver % 3 + 1
        let sending = try #require(cluster.servers[sender]).router
        let receiving = try #require(cluster.servers[receiver]).router

        // A long poll through the receiver, waiting before anything is sent.
        let poll = Task { try await receiving.receive(queue.name, maxMessages: 10, waitMs: 15_000) }
        try await Task.sleep(nanoseconds: 300_000_000)
        var sent: [String: [String]] = [:]
        func send(_ range: Range<Int>) async throws {
            let requests = range.map { i in
                SendRequest(body: Self.body("m\(i)"), groupID: "g\(i % 8)", deduplicationID: "d\(i)")
            }
            for (request, outcome) in zip(requests, try await sending.send(queue.name, requests)) {
                guard case .success(.enqueued) = outcome else {
                    Issue.record("send \(String(buffer: request.body)): \(outcome)")
                    continue
                }
                sent[request.groupID!, default: []].append(String(buffer: request.body))
            }
        }
        try await send(0..<20)
        let woken = try await poll.value
        #expect(!woken.isEmpty, "the long poll was woken by a send through another node")
        for (_, delivery) in woken {
            _ = try await receiving.changeVisibility(
                queue.name,
                [VisibilityChange(handle: delivery.handle, visibilityTimeoutSeconds: 0)]
            )
        }

        cluster.crash(spare)
        try await send(20..<40)

        var received: [String: [String]] = [:]
        let end = PartitionRouter.nowMs() + 20_000
        while received.values.map(\.count).reduce(0, +) < 40, PartitionRouter.nowMs() < end {
            let batch = try await receiving.receive(queue.name, maxMessages: 10, waitMs: 1_000)
            for (_, delivery) in batch {
                received[delivery.groupID!, default: []].append(String(buffer: delivery.body))
            }
            let deleted = try await receiving.delete(queue.name, batch.map(\.delivery.handle))
            #expect(deleted.allSatisfy { if case .success = $0 { true } else { false } })
        }
        #expect(received == sent, "every message once, each group in send order")
        #expect(leaders.count { $0 != sender && $0 != 0 } >= 3, "most partitions were led by other nodes")
    }

    /// A queue changed through another node (attributes set, or deleted and created again with other partitions)
    /// is seen by a node's router within its metadata freshness, not served from a cache forever: found with
    /// `ferry bench --api sqs --partitions 1` after a 4-partition run, whose sends all failed with "queue
    /// bench-0.fifo has 1 partitions".
    @Test func aQueueChangedElsewhereIsSeenAfresh() async throws {
        let cluster = LocalCluster(name: "fresh")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        _ = try client.createQueue("changing.fifo", partitions: 4)
        let router = try #require(cluster.servers[2]).router
        let send = [SendRequest(body: Self.body("a"), groupID: "g", deduplicationID: "a")]
        let first = try await router.send("changing.fifo", send)
        #expect(first.allSatisfy { if case .success = $0 { true } else { false } }, "\(first)")
        #expect(try await router.queue("changing.fifo").partitions == 4)

        // Polls the router until `fresh` holds of what it answers, for at most 10 s.
        func waitUntil(_ fresh: (QueueDescription) -> Bool) async throws -> QueueDescription {
            let end = PartitionRouter.nowMs() + 10_000
            var seen = try await router.queue("changing.fifo")
            while !fresh(seen), PartitionRouter.nowMs() < end {
                try await Task.sleep(nanoseconds: 100_000_000)
                seen = try await router.queue("changing.fifo")
            }
            return seen
        }
        var attributes = QueueAttributes()
        attributes.visibilityTimeoutSeconds = 77
        try client.setAttributes("changing.fifo", attributes)
        let changed = try await waitUntil { $0.attributes.visibilityTimeoutSeconds == 77 }
        #expect(changed.attributes.visibilityTimeoutSeconds == 77, "\(changed.attributes)")

        try client.deleteQueue("changing.fifo")
        _ = try client.createQueue("changing.fifo", partitions: 1)
        let recreated = try await waitUntil { $0.partitions == 1 }
        #expect(recreated.partitions == 1, "\(recreated)")
        let again = [SendRequest(body: Self.body("b"), groupID: "g", deduplicationID: "b")]
        let second = try await router.send("changing.fifo", again)
        #expect(second.allSatisfy { if case .success = $0 { true } else { false } }, "\(second)")
    }

    /// A forwarded request whose peer connection breaks ends as an unknown outcome (`timeout`), once; a late
    /// answer for it is dropped.
    @Test func aForwardedCallEndsOnceWhenItsConnectionBreaks() {
        let calls = ForwardedCalls()
        let results = ResultsBox()
        let first = calls.register(peer: 2, Answer { results.append($0) })
        let other = calls.register(peer: 3, Answer { results.append($0) })
        calls.connectionBroke(peer: 2)
        calls.answer(first, .done)
        #expect(results.all.count == 1)
        if case .failure(.timeout) = results.all.first {} else { Issue.record("expected timeout: \(results.all)") }
        calls.answer(other, .done)
        #expect(results.all.count == 2)
        if case .success(.done) = results.all.last {} else { Issue.record("expected the answer: \(results.all)") }
    }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NIOLock()
    private var results: [Result<ClientResponse, FerryClientError>] = []
    func append(_ result: Result<ClientResponse, FerryClientError>) { lock.withLock { results.append(result) } }
    var all: [Result<ClientResponse, FerryClientError>] { lock.withLock { results } }
}
