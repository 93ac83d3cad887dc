import ChaosCheck
import FerryClient
import FerryModel
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The workload's processes, each on its own thread with its own client: plain producers that retry with
/// dedup ids (and repeat on purpose inside and after the window), producer sessions, consumers that delete or
/// "crash". Every operation goes into the history.
final class WorkloadRunner: @unchecked Sendable {
    let scenario: Scenario
    let recorder: Recorder
    let endpoints: [String]
    let queues: [String]
    let deadLetterQueue: String
    /// Producers stop at this flag; consumers keep draining until `consumersStop`.
    let producersStop = NIOLockedValueBox(false)
    let consumersStop = NIOLockedValueBox(false)
    let draining = NIOLockedValueBox(false)
    private let producers = DispatchGroup()
    private let consumers = DispatchGroup()

    init(scenario: Scenario, recorder: Recorder, endpoints: [String], queues: [String], deadLetterQueue: String) {
        self.scenario = scenario
        self.recorder = recorder
        self.endpoints = endpoints
        self.queues = queues
        self.deadLetterQueue = deadLetterQueue
    }

    func client() throws -> FerryClient {
        var options = FerryClient.Options()
        // A short request timeout: a paused or cut-off leader costs a client one second, and the unknown
        // outcomes it leaves are what the retries with dedup ids and the sessions are for.
        options.requestTimeoutMs = 1_000
        options.retryDeadlineMs = 10_000
        return try FerryClient(endpoints: endpoints, options: options)
    }

    func start() {
        let w = scenario.workload
        for k in 0..<w.plainProducers { spawn(producers) { try self.plainProducer(k) } }
        for k in 0..<w.sessionProducers { spawn(producers) { try self.sessionProducer(k) } }
        for k in 0..<w.consumers { spawn(consumers) { try self.consumer(k) } }
    }

    private func spawn(_ group: DispatchGroup, _ body: @escaping @Sendable () throws -> Void) {
        DispatchQueue.global().async(group: group) {
            do { try body() } catch {
                FileHandle.standardError.write(Data("ferry-chaos: a process stopped: \(error)\n".utf8))
            }
        }
    }

    func stopProducers() {
        producersStop.withLockedValue { $0 = true }
        producers.wait()
    }

    func stopConsumers() {
        consumersStop.withLockedValue { $0 = true }
        consumers.wait()
    }

    static func body(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return buffer
    }

    static func position(_ p: MessagePosition) -> Position {
        Position(partition: p.partition, sequence: p.sequenceNumber)
    }

    /// How a refusal ends an operation: retriable refusals and timeouts leave the outcome unknown.
    static func kind(of error: WireError) -> HistoryEvent.Kind {
        error.code.isRetriable || error.code == .timeout ? .info : .fail
    }

    // MARK: Plain producers

    private func plainProducer(_ k: Int) throws {
        let client = try client()
        let w = scenario.workload
        let name = "plain-\(k)"
        var random = SeededRandom(seed: scenario.seed &* 1_000 &+ UInt64(k))
        var repeats: [(due: Int64, queue: String, group: String, body: String)] = []
        var n = 0
        while !producersStop.withLockedValue({ $0 }) {
            if let due = repeats.firstIndex(where: { $0.due <= recorder.now }) {
                let again = repeats.remove(at: due)
                _ = sendWithRetries(client, name, again.queue, again.group, again.body)
                continue
            }
            n += 1
            let queue = queues[n % queues.count]
            let group = "pl\(k)-g\(n % w.groupsPerProducer)"
            let body = "pl\(k)-\(n)"
            if sendWithRetries(client, name, queue, group, body) == .ok {
                if random.chance(w.repeatInsideProbability) {
                    _ = sendWithRetries(client, name, queue, group, body)
                } else if random.chance(w.repeatAfterProbability) {
                    let due = recorder.now + Int64(w.dedupWindowSeconds) * 1_000 + 2_000
                    repeats.append((due, queue, group, body))
                }
            }
            usleep(UInt32(w.sendIntervalMs) * 1_000)
        }
    }

    /// One send intent: repeated (same body and dedup id) while its outcome is unknown, 5 times at most.
    private func sendWithRetries(
        _ client: FerryClient,
        _ name: String,
        _ queue: String,
        _ group: String,
        _ body: String
    ) -> HistoryEvent.Kind {
        var outcome = HistoryEvent.Kind.info
        for _ in 0..<5 {
            outcome = sendOnce(client, name, queue, group, body)
            if outcome != .info || producersStop.withLockedValue({ $0 }) { break }
        }
        return outcome
    }

    private func sendOnce(
        _ client: FerryClient,
        _ name: String,
        _ queue: String,
        _ group: String,
        _ body: String
    ) -> HistoryEvent.Kind {
        let op = recorder.invoke(name, "send") {
            $0.queue = queue
            $0.group = group
            $0.body = body
            $0.dedup = body
        }
        let request = SendRequest(body: Self.body(body), groupID: group, deduplicationID: body)
        do {
            let result = try client.send(queue, [request])[0]
            switch result {
            case .success(let sent):
                recorder.complete(name, "send", op, .ok) { $0.position = sent.position.map(Self.position) }
                return .ok
            case .failure(let error):
                let kind = Self.kind(of: error)
                recorder.complete(name, "send", op, kind) { $0.error = "\(error.code)" }
                return kind
            }
        } catch {
            var kind = HistoryEvent.Kind.info
            if case .server(let refusal) = error { kind = Self.kind(of: refusal) }
            recorder.complete(name, "send", op, kind) { $0.error = "\(error)" }
            return kind
        }
    }

    // MARK: Producer sessions

    private func sessionProducer(_ k: Int) throws {
        let client = try client()
        let w = scenario.workload
        let name = "session-\(k)"
        let queue = queues[k % queues.count]
        let session = try ProducerSession(client: client, queue: queue, window: 8)
        var n = 0
        while !producersStop.withLockedValue({ $0 }) {
            let batch = (n..<n + w.sessionBatch).map { i in
                (index: i, group: "ss\(k)-g\(i % w.groupsPerProducer)", body: "ss\(k)-\(i)")
            }
            n += w.sessionBatch
            // Messages whose outcome is unknown go again, first and in the same order: the session gives them
            // the stamps they had, so the partitions answer repeats.
            var pending = batch
            for _ in 0..<5 where !pending.isEmpty {
                let ops = pending.map { message in
                    recorder.invoke(name, "send") {
                        $0.queue = queue
                        $0.group = message.group
                        $0.body = message.body
                        $0.sessionIndex = message.index
                    }
                }
                let requests = pending.map {
                    SendRequest(body: Self.body($0.body), groupID: $0.group, deduplicationID: $0.body)
                }
                do {
                    let outcomes = try session.send(requests)
                    var unknown: [(index: Int, group: String, body: String)] = []
                    for (message, (op, outcome)) in zip(pending, zip(ops, outcomes)) {
                        switch outcome {
                        case .success(let sent):
                            recorder.complete(name, "send", op, .ok) { $0.position = sent.position.map(Self.position) }
                        case .failure(let error):
                            let kind = Self.kind(of: error)
                            recorder.complete(name, "send", op, kind) { $0.error = "\(error.code)" }
                            if kind == .info { unknown.append(message) }
                        }
                    }
                    pending = unknown
                } catch {
                    for op in ops { recorder.complete(name, "send", op, .info) { $0.error = "\(error)" } }
                    if producersStop.withLockedValue({ $0 }) { return }
                }
            }
            // The same message rate as a plain producer: one message per send interval.
            usleep(UInt32(w.sendIntervalMs * w.sessionBatch) * 1_000)
        }
    }

    // MARK: Consumers

    private func consumer(_ k: Int) throws {
        let client = try client()
        let w = scenario.workload
        let name = "consumer-\(k)"
        var random = SeededRandom(seed: scenario.seed &* 7_919 &+ UInt64(k))
        let all = queues + [deadLetterQueue]
        var turn = k
        var stay = false
        while !consumersStop.withLockedValue({ $0 }) {
            // Stay on a queue while it gives messages; move on after an empty answer.
            if !stay { turn += 1 }
            let queue = all[turn % all.count]
            let op = recorder.invoke(name, "receive") { $0.queue = queue }
            let deliveries: [(partition: UInt32, delivery: Delivery)]
            do {
                deliveries = try client.receive(
                    queue,
                    maxMessages: 10,
                    waitMs: 100,
                    visibilityTimeoutSeconds: w.visibilityTimeoutSeconds
                )
            } catch {
                recorder.complete(name, "receive", op, .info) { $0.error = "\(error)" }
                usleep(50_000)
                continue
            }
            recorder.complete(name, "receive", op, .ok) {
                $0.deliveries = deliveries.map { _, d in
                    DeliveryRecord(
                        position: Self.position(d.position),
                        body: String(buffer: d.body),
                        group: d.groupID,
                        receiveCount: d.receiveCount,
                        originQueue: d.origin?.sourceQueue,
                        originPosition: d.origin.map { Self.position($0.position) }
                    )
                }
            }
            stay = !deliveries.isEmpty
            let crash = draining.withLockedValue { $0 } ? 0 : w.crashProbability
            let kept = deliveries.filter { _ in !random.chance(crash) }
            for partition in Set(kept.map(\.partition)).sorted() {
                // A delete whose answer was lost is asked again (as consumers do) until it is answered: deleted,
                // alreadyGone (an earlier one took effect) or stale (the message came back). A leader paused for
                // longer than a few request timeouts must not leave the message's fate unknown.
                var mine = kept.filter { $0.partition == partition }.map(\.delivery)
                let deadline = DispatchTime.now().uptimeNanoseconds + 20_000_000_000
                while !mine.isEmpty && DispatchTime.now().uptimeNanoseconds < deadline {
                    let ops = mine.map { d in
                        recorder.invoke(name, "delete") {
                            $0.queue = queue
                            $0.handleOf = Self.position(d.position)
                        }
                    }
                    var unknown: [Delivery] = []
                    do {
                        let results = try client.delete(queue, partition: partition, mine.map(\.handle))
                        for (d, (op, result)) in zip(mine, zip(ops, results)) {
                            switch result {
                            case .success(.deleted): recorder.complete(name, "delete", op, .ok)
                            case .success(.alreadyGone):
                                recorder.complete(name, "delete", op, .ok) { $0.error = "alreadyGone" }
                            case .failure(let error):
                                let kind = Self.kind(of: error)
                                recorder.complete(name, "delete", op, kind) { $0.error = "\(error.code)" }
                                if kind == .info { unknown.append(d) }
                            }
                        }
                    } catch {
                        for op in ops { recorder.complete(name, "delete", op, .info) { $0.error = "\(error)" } }
                        unknown = mine
                    }
                    mine = unknown
                    if !mine.isEmpty { usleep(100_000) }
                }
            }
        }
    }
}
