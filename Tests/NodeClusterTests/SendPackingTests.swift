import FerryClient
import FerryModel
import FerryNode
import FerryWire
import NIOCore
import NIOPosix
import Testing

/// The Raft thread packs the sends of one round into as few entries as it can (`SendPacking`): each client still
/// gets exactly its own messages' results, in its order, and a duplicate or a refused message inside a packed
/// entry is answered to the client that sent it.
@Suite(.serialized) struct SendPackingTests {
    @Test func rangesKeepOrderAndStayWithinTheSlotAndByteLimits() {
        #expect(SendPacking.ranges([]) == [])
        #expect(SendPacking.ranges([(1, 10), (10, 100), (3, 5)]) == [0..<3])
        // 103 batches of 10 messages: 102 fit in 1,024 slots (1,020), the 103rd starts a second entry.
        let slots = SendPacking.ranges(Array(repeating: (messages: 10, bytes: 100), count: 103))
        #expect(slots == [0..<102, 102..<103])
        // Bytes: 600 KiB batches, two do not fit 1 MiB; a single batch over the limit still makes one entry.
        let big = SendPacking.ranges([(1, 600 << 10), (1, 600 << 10), (1, 3 << 20), (1, 1)])
        #expect(big == [0..<1, 1..<2, 2..<3, 3..<4])
        let exact = SendPacking.ranges([(1_024, 10), (1, 10)])
        #expect(exact == [0..<1, 1..<2])
        // Attributes count with the body (SQS's message size): tiny bodies with 400 KiB of attributes each
        // make one entry per two batches, not one for all.
        func batch(attributes: Int) -> [SendRequest] {
            var body = ByteBuffer()
            body.writeString("b")
            var attributesBuffer = ByteBuffer()
            attributesBuffer.writeRepeatingByte(0, count: attributes)
            return [SendRequest(body: body, messageAttributes: attributesBuffer, groupID: "g", deduplicationID: "d")]
        }
        let withAttributes = SendPacking.ranges(of: Array(repeating: batch(attributes: 400 << 10), count: 5))
        #expect(withAttributes == [0..<2, 2..<4, 4..<5])
        #expect(SendPacking.ranges(of: Array(repeating: batch(attributes: 10), count: 5)) == [0..<5])
    }

    @Test func pipelinedSendsFromManyConnectionsArePackedAndAnsweredToTheirSenders() throws {
        let cluster = LocalCluster(name: "packing")
        try cluster.startAll()
        defer { cluster.stopAll() }
        let client = try cluster.client()
        let queue = try client.createQueue("packing.fifo", partitions: 1)
        // Find the partition's leader and talk to it directly: no routing, many requests in flight.
        var leaderEndpoint: (String, Int)?
        let end = LocalCluster.nowMs() + 10_000
        while leaderEndpoint == nil && LocalCluster.nowMs() < end {
            let description = try client.describe()
            if let leader = description.partitions.first(where: { $0.queueID == queue.id })?.leader, leader != 0,
                let node = description.nodes.first(where: { $0.id == leader })
            {
                leaderEndpoint = (node.host, Int(node.clientPort))
            } else {
                usleep(50_000)
            }
        }
        let (host, port) = try #require(leaderEndpoint)
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? loops.syncShutdownGracefully() }
        let connections = try (0..<3).map { _ in try Connection(host: host, port: port, group: loops) }
        defer { for connection in connections { connection.close() } }

        // Client c sends 150 requests of 1–3 messages. Request 40 repeats the dedup id of request 10's first
        // message, and request 70's second message has a bad group id: both are answered to client c only.
        // Whether a round packs sends of two clients depends on the threads' timing: a round is repeated (with
        // new ids, up to three times) until one did; every round's answers are checked in full.
        func messages(_ attempt: Int, _ c: Int, _ n: Int) -> [SendRequest] {
            (0..<(1 + (n + c) % 3)).map { m in
                var body = ByteBuffer()
                body.writeString("a\(attempt)-c\(c)-r\(n)-m\(m)")
                let dedup = n == 40 && m == 0 ? "a\(attempt)-c\(c)-r10-m0" : "a\(attempt)-c\(c)-r\(n)-m\(m)"
                let group = n == 70 && m == 1 ? "bad group!" : "c\(c)-g\(n % 4)"
                return SendRequest(body: body, groupID: group, deduplicationID: dedup)
            }
        }
        var positions: [MessagePosition: String] = [:]
        var sentByGroup: [String: [String]] = [:]
        var packed = false
        for attempt in 0..<3 where !packed {
            var futures: [[EventLoopFuture<ClientResponse>]] = Array(repeating: [], count: 3)
            for n in 0..<150 {
                for c in 0..<3 {
                    let request = ClientRequest.send(queue: queue.name, partition: 0, requests: messages(attempt, c, n))
                    futures[c].append(connections[c].start(request, timeoutMs: 10_000))
                }
            }
            var firstOfRequest10: [Int: MessagePosition] = [:]
            var indexesByClient: [Int: Set<UInt64>] = [:]
            for c in 0..<3 {
                var last: MessagePosition?
                for (n, future) in futures[c].enumerated() {
                    let response = try future.wait()
                    guard case .sent(let outcomes) = response else {
                        Issue.record("client \(c) request \(n): \(response)")
                        continue
                    }
                    let sent = messages(attempt, c, n)
                    #expect(outcomes.count == sent.count, "client \(c) request \(n) got \(outcomes.count) results")
                    for (m, outcome) in outcomes.enumerated() {
                        let name = "a\(attempt)-c\(c)-r\(n)-m\(m)"
                        switch outcome {
                        case .success(.enqueued(let position)):
                            #expect(positions.updateValue(name, forKey: position) == nil, "\(position) given twice")
                            if let last { #expect(position > last, "client \(c)'s messages keep their order") }
                            last = position
                            indexesByClient[c, default: []].insert(position.index)
                            if n == 10 && m == 0 { firstOfRequest10[c] = position }
                            sentByGroup[sent[m].groupID!, default: []].append(name)
                        case .success(.duplicate(let position)):
                            #expect(n == 40 && m == 0, "only the repeated dedup id is a duplicate, not \(name)")
                            #expect(position == firstOfRequest10[c], "the duplicate answers client \(c)'s first send")
                        case .failure(let error):
                            #expect(n == 70 && m == 1, "only the bad group id is refused, not \(name): \(error)")
                            #expect(error.code == .invalidArgument)
                        default:
                            Issue.record("client \(c) \(name): \(outcome)")
                        }
                    }
                }
            }
            let pairs = [(0, 1), (1, 2), (0, 2)]
            packed = pairs.contains {
                !indexesByClient[$0.0, default: []].isDisjoint(with: indexesByClient[$0.1, default: []])
            }
        }
        #expect(packed, "some entry holds sends of two clients (a round packed them)")

        // Every group comes out in its send order.
        var received: [String: [String]] = [:]
        let total = sentByGroup.values.map(\.count).reduce(0, +)
        let drainEnd = LocalCluster.nowMs() + 30_000
        while received.values.map(\.count).reduce(0, +) < total && LocalCluster.nowMs() < drainEnd {
            let batch = try client.receive(queue.name, maxMessages: 10, waitMs: 300)
            for (_, delivery) in batch {
                received[delivery.groupID!, default: []].append(String(buffer: delivery.body))
            }
            if !batch.isEmpty { _ = try client.delete(queue.name, partition: 0, batch.map(\.delivery.handle)) }
        }
        #expect(received == sentByGroup)
    }
}
