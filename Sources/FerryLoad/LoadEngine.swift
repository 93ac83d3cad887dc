import FerryClient
import FerryModel
import FerryWire
import Histogram
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// What the engine runs: the `ferry bench run` options it reads (LoadBench validates them).
package struct LoadSettings: Sendable {
    package var kind = "fifo"
    package var size = 128
    package var producers = 1
    package var consumers = 0
    package var groups = 64
    package var window = 256
    package var batch = 1
    package var receives = 8
    package var duration: Double = 10
    package var count = 0
    package var rate: Double = 0
    package var prefill = 0

    package init() {}
}

/// A load that cannot run (its queues are missing, its fill did not finish).
package struct LoadError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// The load of `ferry bench run`. Everything after set-up runs on one event loop (the one the connections use),
/// so the counters need no lock: every answer is counted and the next request started in the answer's
/// callback. The main thread only starts phases and reads the counters through `loop.submit`.
package final class LoadEngine: @unchecked Sendable {
    package struct Counters {
        package var sendLatencyUs = Histogram<UInt64>(
            highestTrackableValue: 600_000_000,
            numberOfSignificantValueDigits: .three
        )
        package var receiveLatencyUs = Histogram<UInt64>(
            highestTrackableValue: 3_600_000_000,
            numberOfSignificantValueDigits: .three
        )
        /// Messages acknowledged / received / deleted while measuring (answers that came before the end).
        package var acknowledged = 0
        package var received = 0
        package var deleted = 0
        /// Messages the cluster refused, requests that failed or timed out (and were sent again).
        package var refused = 0
        package var failedRequests = 0
        /// Failed requests by cause (error code, or the client-side failure).
        package var failures: [String: Int] = [:]
        package var emptyReceives = 0
        /// Receive requests answered in the measured phase (messages per receive: `received / receives`).
        package var receives = 0
    }

    package let settings: LoadSettings
    package let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    package let loop: any EventLoop
    package let queues: [QueueDescription]
    package let fifo: Bool
    private var transport: (any LoadTransport)!
    private let nodeIDs: [UInt64]
    /// Queue index → partition → the node believed to lead it.
    private var leaders: [[UInt64]]
    private let filler: [UInt8]
    private let runID: String

    // Loop-confined state.
    private var counters = Counters()
    private var measuring = false
    private var stopping = false
    private var startNs: UInt64 = 0
    private var endNs: UInt64 = .max
    /// Requests (sends, receives, deletes) started and not yet answered.
    private var inFlight = 0
    /// Messages handed to sends in this phase, and the phase's limit (0: none).
    private var issued = 0
    private var issueLimit = 0
    private var issuedByProducer: [Int] = []
    private var requestsByProducer: [Int] = []
    private var receiveCursor: [Int] = []
    private var phaseBatch = 1
    private var drainTarget = 0
    private var doneNs: UInt64?
    /// The first refusal that sending again cannot help (a bad setting): it ends the run, reported once.
    private var refusal: LoadFailure?

    /// The cluster once the bench queues' partitions have settled: a new queue's partitions elect leaders and then
    /// hand leadership to their preferred nodes (the first replica; the nodes rebalance every 5 s). Waits, at most
    /// 20 s, until they are led there, or else have leaders that stayed the same for 6 s.
    package static func settledCluster(_ client: FerryClient, queues names: [String]) throws -> ClusterDescription {
        var cluster = try client.describe()
        var stableSince = nowNs()
        let waitEnd = nowNs() + 20_000_000_000
        func mine(_ c: ClusterDescription) -> [PartitionDescription] {
            let ids = Set(c.queues.filter { names.contains($0.name) }.map(\.id))
            return c.partitions.filter { ids.contains($0.queueID) }.sorted { $0.groupID < $1.groupID }
        }
        while nowNs() < waitEnd {
            let partitions = mine(cluster)
            if !partitions.isEmpty && partitions.allSatisfy({ $0.leader != 0 && $0.leader == $0.replicas.first }) {
                break
            }
            usleep(200_000)
            let fresh = try client.describe()
            if mine(fresh).map(\.leader) != partitions.map(\.leader) || partitions.contains(where: { $0.leader == 0 }) {
                stableSince = nowNs()
            }
            cluster = fresh
            if nowNs() - stableSince >= 6_000_000_000 { break }
        }
        return cluster
    }

    /// - Parameter transport: makes the transport once the queues are known, on the engine's event loop group.
    package init(
        cluster: ClusterDescription,
        queues names: [String],
        settings: LoadSettings,
        transport: (ClusterDescription, [QueueDescription], MultiThreadedEventLoopGroup) throws -> any LoadTransport
    ) throws {
        self.settings = settings
        self.loop = group.next()
        self.fifo = settings.kind == "fifo"
        self.queues = try names.map { name in
            guard let queue = cluster.queues.first(where: { $0.name == name }) else {
                throw LoadError("queue \(name) is missing from the metadata")
            }
            return queue
        }
        nodeIDs = cluster.nodes.map(\.id)
        leaders = queues.map { queue in
            (0..<queue.partitions).map { partition in
                cluster.partitions.first { $0.queueID == queue.id && $0.partition == partition }?.leader ?? 0
            }
        }
        filler = LoadBody.filler(size: settings.size)
        runID = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        do {
            self.transport = try transport(cluster, queues, group)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    /// Closes the connections and stops the event loop (from the main thread, when the run is over; a callback
    /// still pending may hold the engine, so this cannot wait for `deinit`).
    package func shutdown() {
        transport?.close()
        try? group.syncShutdownGracefully()
    }

    // MARK: Phases (main thread)

    /// Sends `total` messages (window 256 per producer, batches of 10), unmeasured, and waits for their answers.
    package func fill(_ total: Int) throws {
        let producers = max(1, settings.producers)
        try loop.submit {
            self.issueLimit = total
            self.begin(producers: producers, consumers: 0, window: 256, batch: 10, measuring: false)
        }.wait()
        let deadline = nowNs() + UInt64(60 + total / 500) * 1_000_000_000
        while nowNs() < deadline {
            usleep(50_000)
            let (sent, busy, refused) = try loop.submit { (self.issued, self.inFlight, self.refusal) }.wait()
            if let refused { throw refused }
            if sent >= total && busy == 0 { break }
        }
        let done = try loop.submit { self.inFlight == 0 && self.issued >= total }.wait()
        guard done else { throw LoadError("the warm-up of \(total) messages did not finish in time") }
    }

    /// The measured phase; returns the counters and the measured seconds.
    package func measure(progress: Bool) throws -> (counters: Counters, seconds: Double) {
        let limitNs = UInt64(settings.duration * 1e9)
        let start = try! loop.submit {
            self.issueLimit = self.settings.count
            self.drainTarget = self.settings.prefill
            self.begin(
                producers: self.settings.producers,
                consumers: self.settings.consumers,
                window: self.settings.window,
                batch: self.settings.batch,
                measuring: true
            )
            return self.startNs
        }.wait()
        var lastPrint = start
        var last = Counters()
        var end = start + limitNs
        while true {
            usleep(20_000)
            let now = nowNs()
            let (current, done, refused) = try! loop.submit { (self.counters, self.doneNs, self.refusal) }.wait()
            if let refused {
                try! loop.submit { self.stopping = true }.wait()
                throw refused
            }
            if let done {
                end = done
                break
            }
            if now >= end { break }
            if settings.count > 0 && current.acknowledged >= settings.count {
                end = now
                break
            }
            if progress && now - lastPrint >= 1_000_000_000 {
                let seconds = Double(now - lastPrint) / 1e9
                lastPrint = now
                writeError(Self.progressLine(Double(now - start) / 1e9, current, last, seconds))
                last = current
            }
        }
        let stopAt = end
        try! loop.submit {
            self.endNs = stopAt
            self.stopping = true
        }.wait()
        if progress { writeError("\n") }
        // In-flight requests finish (their latencies count; messages answered after `end` do not count).
        let deadline = nowNs() + 30_000_000_000
        while nowNs() < deadline, (try? loop.submit { self.inFlight }.wait()) ?? 0 > 0 { usleep(10_000) }
        let counters = try! loop.submit { self.counters }.wait()
        return (counters, Double(end - start) / 1e9)
    }

    /// Microseconds as milliseconds: three decimals below 10 ms, one above.
    package static func ms(_ us: UInt64) -> String {
        let value = Double(us) / 1_000
        return value < 10 ? String(Double(Int(value * 1_000)) / 1_000) : String(Double(Int(value * 10)) / 10)
    }

    package static func progressLine(_ at: Double, _ now: Counters, _ before: Counters, _ seconds: Double) -> String {
        func rate(_ a: Int, _ b: Int) -> String { String(Int(Double(a - b) / seconds)) }
        var line =
            "\r[\(Int(at.rounded())) s] acknowledged \(now.acknowledged) (\(rate(now.acknowledged, before.acknowledged))/s)"
        if now.received > 0 || now.deleted > 0 {
            line += ", received \(now.received), deleted \(now.deleted) (\(rate(now.deleted, before.deleted))/s)"
        }
        if now.sendLatencyUs.totalCount > 0 {
            line += ", send p99 \(Self.ms(now.sendLatencyUs.valueAtPercentile(99))) ms"
        }
        return line + "   "
    }

    // MARK: Load (event loop)

    private func begin(producers: Int, consumers: Int, window: Int, batch: Int, measuring: Bool) {
        counters = Counters()
        self.measuring = measuring
        stopping = false
        doneNs = nil
        endNs = .max
        issued = 0
        phaseBatch = batch
        startNs = nowNs()
        issuedByProducer = Array(repeating: 0, count: producers)
        if requestsByProducer.count < producers {
            requestsByProducer += Array(repeating: 0, count: producers - requestsByProducer.count)
        }
        receiveCursor = Array(repeating: 0, count: consumers)
        let requestsInFlight = (window + batch - 1) / batch
        for producer in 0..<producers {
            for _ in 0..<requestsInFlight {
                inFlight += 1
                sendNext(producer)
            }
        }
        for consumer in 0..<consumers {
            for _ in 0..<settings.receives {
                inFlight += 1
                receiveNext(consumer)
            }
        }
    }

    /// Whether an answer arriving now counts toward the measured rates.
    private var counts: Bool { measuring && nowNs() <= endNs }

    private func sendNext(_ producer: Int) {
        if stopping || (issueLimit > 0 && issued >= issueLimit) {
            inFlight -= 1
            return
        }
        if measuring && settings.rate > 0 {
            let perProducer = settings.rate / Double(issuedByProducer.count)
            let due = startNs + UInt64(Double(issuedByProducer[producer]) / perProducer * 1e9)
            let now = nowNs()
            if due > now {
                loop.scheduleTask(in: .nanoseconds(Int64(due - now))) { self.sendNext(producer) }
                return
            }
        }
        let queueIndex = producer % queues.count
        let queue = queues[queueIndex]
        let number = requestsByProducer[producer]
        requestsByProducer[producer] += 1
        let messages = issueLimit > 0 ? min(phaseBatch, issueLimit - issued) : phaseBatch
        issued += messages
        issuedByProducer[producer] += messages
        let groupID = "g\((number &* 7_919 &+ producer) % settings.groups)"
        let partition =
            fifo
            ? PartitionHash.partition(forGroup: groupID, partitions: queue.partitions)
            : UInt32(number % Int(queue.partitions))
        let sentAt = nowNs()
        var requests: [SendRequest] = []
        requests.reserveCapacity(messages)
        for index in 0..<messages {
            requests.append(
                SendRequest(
                    body: LoadBody.make(sentAt: sentAt, filler: filler),
                    groupID: fifo ? groupID : nil,
                    deduplicationID: fifo ? "\(runID)-\(producer)-\(number)-\(index)" : nil
                )
            )
        }
        send(producer, queueIndex, partition, requests, sentAt: sentAt, attempt: 0)
    }

    private func send(
        _ producer: Int,
        _ queueIndex: Int,
        _ partition: UInt32,
        _ requests: [SendRequest],
        sentAt: UInt64,
        attempt: Int
    ) {
        let leader = leaders[queueIndex][Int(partition)]
        transport.send(queueIndex, partition, leader: leader, requests).whenComplete { answer in
            switch answer {
            case .success(let counts):
                let latency = (nowNs() - sentAt) / 1_000
                for _ in 0..<counts.done { _ = self.counters.sendLatencyUs.record(latency) }
                if self.counts { self.counters.acknowledged += counts.done }
                self.counters.refused += counts.refused
                self.sendNext(producer)
            case .failure(let error):
                self.failed(error, queueIndex, partition)
                self.retry {
                    self.send(producer, queueIndex, partition, requests, sentAt: sentAt, attempt: attempt + 1)
                }
            }
        }
    }

    private func receiveNext(_ consumer: Int) {
        if stopping {
            inFlight -= 1
            return
        }
        let queueIndex = consumer % queues.count
        let queue = queues[queueIndex]
        let partition = UInt32((receiveCursor[consumer] + consumer) % Int(queue.partitions))
        receiveCursor[consumer] += 1
        let leader = leaders[queueIndex][Int(partition)]
        transport.receive(queueIndex, partition, leader: leader, waitMs: 500).whenComplete { answer in
            switch answer {
            case .success(let deliveries):
                let now = nowNs()
                if deliveries.isEmpty { self.counters.emptyReceives += 1 }
                if self.counts { self.counters.receives += 1 }
                for delivery in deliveries {
                    if let sentAt = delivery.sentAtNs, sentAt <= now {
                        _ = self.counters.receiveLatencyUs.record((now - sentAt) / 1_000)
                    }
                    if self.counts { self.counters.received += 1 }
                }
                if !deliveries.isEmpty {
                    self.inFlight += 1
                    self.delete(queueIndex, partition, deliveries.map(\.handle), attempt: 0)
                }
                self.receiveNext(consumer)
            case .failure(let error):
                self.failed(error, queueIndex, partition)
                self.retry { self.receiveNext(consumer) }
            }
        }
    }

    private func delete(_ queueIndex: Int, _ partition: UInt32, _ handles: [LoadHandle], attempt: Int) {
        let leader = leaders[queueIndex][Int(partition)]
        transport.delete(queueIndex, partition, leader: leader, handles).whenComplete { answer in
            switch answer {
            case .success(let counts):
                self.counters.refused += counts.refused
                // A retry after an answer that never came finds the handles the first attempt spent: those
                // messages are deleted too (a drain counting only `done` waited for them forever).
                let spent = attempt > 0 ? counts.refused : 0
                if self.counts { self.counters.deleted += counts.done + spent }
                if self.measuring && self.drainTarget > 0 && self.counters.deleted >= self.drainTarget
                    && self.doneNs == nil
                {
                    self.doneNs = nowNs()
                }
                self.inFlight -= 1
            case .failure(let error):
                self.failed(error, queueIndex, partition)
                // Sent again until it is answered (the run's end stops it): a delete given up after a few
                // attempts may have been applied, and a drain that never counts its messages never ends.
                if self.stopping {
                    self.inFlight -= 1
                } else {
                    self.retry { self.delete(queueIndex, partition, handles, attempt: attempt + 1) }
                }
            }
        }
    }

    /// A failed request: follow a leader hint, or try the next node.
    private func failed(_ error: any Error, _ queueIndex: Int, _ partition: UInt32) {
        let failure = error as? LoadFailure ?? LoadFailure(cause: "no answer")
        counters.failedRequests += 1
        counters.failures[failure.cause, default: 0] += 1
        if failure.leaderHint != 0 {
            leaders[queueIndex][Int(partition)] = failure.leaderHint
        } else if failure.permanent {
            // Reported by the phase that is running (once), which ends the run.
            if refusal == nil { refusal = failure }
            stopping = true
        } else {
            let current = leaders[queueIndex][Int(partition)]
            let at = nodeIDs.firstIndex(of: current) ?? -1
            leaders[queueIndex][Int(partition)] = nodeIDs[(at + 1) % nodeIDs.count]
        }
    }

    /// Runs `again` on the engine's event loop after 20 ms (every caller is on that loop already).
    private func retry(_ again: @escaping @Sendable () -> Void) {
        guard refusal == nil else {
            inFlight -= 1
            return
        }
        loop.scheduleTask(in: .milliseconds(20)) { again() }
    }
}

/// Writes to standard error (progress and notes; standard output keeps the report).
package func writeError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
}

package func nowNs() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
