import FerryModel
import FerryQueue
import NIOCore
import Testing

/// Issue 19: a queued message holds its own bytes, not the entry or snapshot it came in, and the message store
/// keeps send order through removals in any order, retention, moves and snapshots.
@Suite struct QueueMemoryTests {
    static func requests(_ count: Int, prefix: String) -> [SendRequest] {
        (0..<count).map { number in
            SendRequest(
                body: QueueHarness.body(prefix + "-" + String(String(number + 100_000_000_000).dropFirst())),
                groupID: "group-\(number % 3)",
                deduplicationID: String(repeating: "d", count: 100) + "\(prefix)\(number)"
            )
        }
    }

    /// The same bodies for a standard queue: no group, no deduplication id.
    static func plainRequests(_ count: Int, prefix: String) -> [SendRequest] {
        requests(count, prefix: prefix).map { request in
            var request = request
            request.groupID = nil
            request.deduplicationID = nil
            return request
        }
    }

    /// What the messages of an entry hold is one arena of exactly their bodies and deduplication ids: not the
    /// entry (its group ids, headers), and not the power-of-two capacity a `ByteBuffer` would round it up to.
    @Test func anEnqueuedEntryHoldsExactlyItsMessagesBytes() throws {
        var queue = QueueHarness()
        let requests = Self.requests(10, prefix: "a")
        queue.apply(.send(requests))
        let own = requests.reduce(0) { $0 + $1.body.readableBytes + $1.deduplicationID!.utf8.count }
        #expect(queue.partition.payloadArenaBytes == own)
        guard case .success(let outcome) = queue.receive(10) else { throw QueueError.emptyBatch }
        #expect(outcome.deliveries.count == 10)
        for (delivery, request) in zip(outcome.deliveries.sorted { $0.handle.position < $1.handle.position }, requests)
        {
            #expect(delivery.body == request.body && delivery.deduplicationID == request.deduplicationID)
        }
    }

    /// A restored partition's messages hold arenas of exactly their bytes, one per run, not the snapshot.
    @Test func aRestoredPartitionHoldsExactlyItsMessagesBytes() throws {
        var queue = QueueHarness()
        queue.apply(.send(Self.requests(10, prefix: "b")))
        let held = queue.partition.payloadArenaBytes
        let snapshot = queue.partition.snapshot()
        var restored = QueueHarness()
        restored.partition = try QueuePartition.restore(from: snapshot)
        restored.index = queue.index
        restored.clockMs = queue.clockMs
        #expect(restored.partition.snapshot() == snapshot)
        #expect(restored.partition.payloadArenaBytes == held)
        guard case .success(let outcome) = restored.receive(10) else { throw QueueError.emptyBatch }
        #expect(Set(outcome.deliveries.map { QueueHarness.text($0.body) }) == Set((0..<10).map { "b-0000000000\($0)" }))
    }

    /// Thousands of messages deleted in a scrambled order, some expiring by retention in one entry: every
    /// invariant holds after each entry (the harness checks), the oldest message is always the first one left,
    /// and a snapshot at the end restores to the same bytes.
    @Test func removalsInAnyOrderKeepSendOrderAndTheOldestMessage() throws {
        var queue = QueueHarness("plain") { $0.retentionSeconds = 60 }
        for round in 0..<20 {
            queue.apply(.send(Self.plainRequests(100, prefix: "r\(round)")))
        }
        var handles: [ReceiptHandle] = []
        for _ in 0..<200 {
            guard case .success(let outcome) = queue.receive(10, visibility: 30) else { break }
            handles += outcome.deliveries.map(\.handle)
        }
        #expect(handles.count == 2_000)
        // Delete every third one, scrambled.
        var order = Array(handles.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
        var state: UInt64 = 7
        for at in order.indices.reversed() {
            state = state &* 6_364_136_223_846_793_005 &+ 1
            order.swapAt(at, Int(state >> 33) % (at + 1))
        }
        for start in stride(from: 0, to: order.count, by: 10) {
            queue.apply(.delete(Array(order[start..<min(start + 10, order.count)])))
        }
        let left = queue.partition.statistics
        #expect(left.inFlight == 2_000 - order.count)
        let oldest = left.oldestSentAtMs
        #expect(oldest == 1_000_000)
        let bytes = queue.partition.snapshot()
        #expect(try QueuePartition.restore(from: bytes).snapshot() == bytes)
        // Everything expires by retention in one entry.
        queue.advance(seconds: 61)
        #expect(queue.partition.statistics.inFlight == 0)
        #expect(queue.partition.statistics.oldestSentAtMs == nil)
        queue.apply(.send(Self.plainRequests(1, prefix: "z")))
        #expect(queue.receiveBodies() == ["z-00000000000"])
    }
}
