import FerryLoad
import FerryModel
import FerryWire
import NIOCore
import NIOPosix
import XCTest

/// The load engine against a queue kept in memory by a transport that can lose answers: what the engine counts
/// must be what the queue did.
final class LoadEngineTests: XCTestCase {
    /// 10M-message drain (issue 19): a delete the queue applied but whose answer was lost, followed by more failed
    /// attempts than the engine used to allow (a leader election), was counted neither as deleted nor as spent,
    /// so the drain's counter never reached its target and the run never ended.
    func testADrainCountsADeleteWhoseAnswersWereLostUntilItIsAnswered() throws {
        let messages = 200
        let transport = MemoryQueueTransport()
        // The third delete is applied and its answer lost; the next 12 attempts fail before reaching the queue.
        transport.deleteFaults = [3: .appliedAnswerLost]
        transport.failAfterFault = 12
        let engine = try Self.engine(messages: messages, transport: transport)
        defer { engine.shutdown() }
        try engine.fill(messages)
        let (counters, _) = try engine.measure(progress: false)
        XCTAssertEqual(try engine.loop.submit { transport.stored }.wait(), 0, "the queue is drained")
        XCTAssertEqual(counters.received, messages)
        XCTAssertEqual(counters.deleted, messages, "every deleted message is counted once, the lost answer's too")
        XCTAssertEqual(try engine.loop.submit { transport.failedDeletes }.wait(), 13)
    }

    /// A delete whose request never reached the queue is sent again until it is answered, and counted once.
    func testADeleteThatNeverArrivedIsSentAgainAndCountedOnce() throws {
        let messages = 100
        let transport = MemoryQueueTransport()
        transport.deleteFaults = [2: .lostBeforeApplying, 5: .lostBeforeApplying]
        transport.failAfterFault = 7
        let engine = try Self.engine(messages: messages, transport: transport)
        defer { engine.shutdown() }
        try engine.fill(messages)
        let (counters, _) = try engine.measure(progress: false)
        XCTAssertEqual(try engine.loop.submit { transport.stored }.wait(), 0)
        XCTAssertEqual(counters.deleted, messages)
        XCTAssertEqual(try engine.loop.submit { transport.failedDeletes }.wait(), 16)
    }

    static func engine(messages: Int, transport: MemoryQueueTransport) throws -> LoadEngine {
        let queue = QueueDescription(name: "bench-0.fifo", id: 7, partitions: 1, attributes: QueueAttributes())
        let cluster = ClusterDescription(
            clusterID: "test",
            nodes: [CatalogNode(id: 1, host: "127.0.0.1", peerPort: 1, clientPort: 2, httpPort: 3)],
            queues: [queue],
            partitions: [
                PartitionDescription(queueID: 7, partition: 0, groupID: 9, replicas: [1], leader: 1, term: 1)
            ]
        )
        var settings = LoadSettings()
        settings.producers = 0
        settings.consumers = 1
        settings.receives = 2
        settings.prefill = messages
        // Bounded: with the bug the drain ran until here (and the test failed); fixed, it ends far sooner.
        settings.duration = 20
        return try LoadEngine(cluster: cluster, queues: [queue.name], settings: settings) { _, _, group in
            transport.loop = group.next()
            return transport
        }
    }
}

/// One partition's messages in memory, on the engine's loop. Deletes can fail by plan: the n-th delete request
/// (counted from 1) is lost before or after the queue applied it, and then its next `failAfterFault` attempts
/// fail as during a leader election (`unavailable`, nothing applied).
final class MemoryQueueTransport: LoadTransport, @unchecked Sendable {
    enum Fault { case lostBeforeApplying, appliedAnswerLost }

    var loop: (any EventLoop)!
    var deleteFaults: [Int: Fault] = [:]
    var failAfterFault = 0
    private(set) var failedDeletes = 0
    private var visible: [String] = []
    private var inFlight: Set<String> = []
    private var sent = 0
    private var deleteRequests = 0
    /// Attempts still to fail, by the request's first handle.
    private var failing: [String: Int] = [:]

    var stored: Int { visible.count + inFlight.count }

    func send(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ messages: [SendRequest]
    ) -> EventLoopFuture<
        LoadCounts
    > {
        for _ in messages {
            sent += 1
            visible.append("m\(sent)")
        }
        return loop.makeSucceededFuture(LoadCounts(done: messages.count))
    }

    func receive(_ queue: Int, _ partition: UInt32, leader: UInt64, waitMs: Int64) -> EventLoopFuture<[LoadDelivery]> {
        let taken = visible.prefix(10)
        visible.removeFirst(taken.count)
        inFlight.formUnion(taken)
        let deliveries = taken.map { LoadDelivery(sentAtNs: nil, handle: .sqs($0)) }
        // An empty receive waits a little, as a long poll would, rather than spinning the loop.
        return deliveries.isEmpty
            ? loop.scheduleTask(in: .milliseconds(5)) { deliveries }.futureResult
            : loop.makeSucceededFuture(deliveries)
    }

    func delete(
        _ queue: Int,
        _ partition: UInt32,
        leader: UInt64,
        _ handles: [LoadHandle]
    ) -> EventLoopFuture<
        LoadCounts
    > {
        guard case .sqs(let first) = handles.first else { preconditionFailure("handles of this transport") }
        if let left = failing[first], left > 0 {
            failing[first] = left - 1
            failedDeletes += 1
            return loop.makeFailedFuture(LoadFailure(cause: "unavailable"))
        }
        deleteRequests += 1
        let fault = failing[first] == nil ? deleteFaults[deleteRequests] : nil
        if fault == .lostBeforeApplying {
            failing[first] = failAfterFault
            failedDeletes += 1
            return loop.makeFailedFuture(LoadFailure(cause: "no answer"))
        }
        var counts = LoadCounts()
        for case .sqs(let handle) in handles {
            if inFlight.remove(handle) != nil { counts.done += 1 } else { counts.refused += 1 }
        }
        if fault == .appliedAnswerLost {
            failing[first] = failAfterFault
            failedDeletes += 1
            return loop.makeFailedFuture(LoadFailure(cause: "no answer"))
        }
        return loop.makeSucceededFuture(counts)
    }

    func close() {}
}
