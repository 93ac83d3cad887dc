import Dispatch
import FerryClient
import FerryModel
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real `ferry node` processes started, killed, partitioned and stopped by `Cluster/local`, as users do it
/// (DESIGN §7). Serialized: one cluster at a time on this 2-core machine. Every test needs the binary;
/// partitions need root (iptables).
@Suite(.serialized, .enabled(if: RealCluster.binary != nil, "needs the ferry binary (FERRY_BIN or a build)"))
struct RealProcessTests {
    static let isRoot = getuid() == 0

    /// 10,000 messages over 64 groups from one pipelined producer session while the leader of each of the four
    /// partitions in turn is SIGKILLed mid-stream and restarted: every message acknowledged, then received exactly
    /// once and in send order within its group.
    @Test func aPipelinedProducerKeepsGroupOrderWhileEachPartitionLeaderIsKilledInTurn() throws {
        let cluster = try RealCluster(name: "rotation", base: 40)
        defer { cluster.down() }
        let client = try cluster.client()
        let queue = try client.createQueue("rotation.fifo", partitions: 4)
        let session = try ProducerSession(client: client, queue: queue.name, window: 8)
        let total = 10_000
        let chunk = 250
        let progress = NIOLockedValueBox(0)
        let killed = DispatchSemaphore(value: 0)
        let killerDone = DispatchSemaphore(value: 0)
        let kills = NIOLockedValueBox<[String]>([])
        // The killer: when the producer passes partition p's mark, SIGKILL p's leader, let the producer go on into
        // the failover, and restart the node a second later.
        DispatchQueue.global().async {
            defer { killerDone.signal() }
            for partition in UInt32(0)..<4 {
                let mark = Int(partition) * 2_500 + 1_000
                while progress.withLockedValue({ $0 }) < mark { usleep(5_000) }
                guard let leader = cluster.leader(of: queue.name, partition: partition, client) else {
                    kills.withLockedValue { $0.append("partition \(partition): no leader found") }
                    killed.signal()
                    continue
                }
                let result = Result { try cluster.kill(leader) }
                kills.withLockedValue { $0.append("partition \(partition): killed node \(leader) \(result)") }
                killed.signal()
                usleep(1_000_000)
                _ = try? cluster.start(leader)
                usleep(1_500_000)
            }
        }
        var acknowledged: [String: [String]] = [:]
        for start in stride(from: 0, to: total, by: chunk) {
            let messages = (start..<start + chunk).map { n in
                SendRequest(body: RealCluster.body("m\(n)"), groupID: "g\(n % 64)", deduplicationID: "d\(n)")
            }
            let outcomes = try session.send(messages)
            for (message, outcome) in zip(messages, outcomes) {
                guard case .success = outcome else {
                    Issue.record("send \(String(buffer: message.body)) answered \(outcome)")
                    continue
                }
                acknowledged[message.groupID!, default: []].append(String(buffer: message.body))
            }
            progress.withLockedValue { $0 = start + chunk }
            // Hold at each mark until the kill happened, so that the next sends meet the failover.
            if (start + chunk - 1_000) % 2_500 == 0 && start + chunk - 1_000 >= 0 { killed.wait() }
        }
        killerDone.wait()
        let log = kills.withLockedValue { $0 }
        #expect(log.count == 4 && log.allSatisfy { $0.contains("killed") }, "\(log)")
        #expect(acknowledged.values.map(\.count).reduce(0, +) == total, "every send acknowledged")
        let received = try RealCluster.drain(client, queue.name, count: total, seconds: 120)
        #expect(received.values.map(\.count).reduce(0, +) == total)
        for group in acknowledged.keys.sorted() where received[group] != acknowledged[group] {
            let got = received[group] ?? []
            Issue.record(
                "group \(group): \(got.count) received for \(acknowledged[group]!.count) acknowledged; first difference at \(zip(got, acknowledged[group]!).enumerated().first { $1.0 != $1.1 }?.offset ?? min(got.count, acknowledged[group]!.count))"
            )
        }
    }

    /// A node down while its peers take snapshots and compact their logs comes back, catches up by snapshot
    /// (its log says so), and then serves every message in order as one of a majority.
    @Test func aNodeRestartedAfterItsPeersCompactedCatchesUpBySnapshot() throws {
        let cluster = try RealCluster(
            name: "snapshot",
            base: 50,
            extra: "snapshot_every_entries: 100\nentries_kept_after_snapshot: 5"
        )
        defer { cluster.down() }
        let client = try cluster.client()
        let queue = try client.createQueue("snap.fifo", partitions: 1)
        try cluster.kill(3)
        var sent: [String] = []
        for n in 0..<300 {
            let request = SendRequest(body: RealCluster.body("m\(n)"), groupID: "g", deduplicationID: "d\(n)")
            guard case .success? = try client.send(queue.name, [request]).first else { continue }
            sent.append("m\(n)")
        }
        #expect(sent.count == 300)
        try cluster.start(3)
        let installed = RealCluster.eventually(20) {
            cluster.log(3).contains("installed a snapshot")
        }
        #expect(installed, "node 3 caught up from a snapshot")
        let caughtUp = RealCluster.eventually(20) {
            let applied = (1...3).map { id in
                (try? client.nodeStatus(host: cluster.host(id), port: 7200))?.groups
                    .first { $0.queue == queue.name }?.appliedIndex ?? 0
            }
            return Set(applied).count == 1 && applied[0] > 0
        }
        #expect(caughtUp, "node 3 applied what the others applied")
        // Without one of the two others, node 3 is half of every majority.
        let leader = cluster.leader(of: queue.name, partition: 0, client) ?? 1
        try cluster.kill(leader == 3 ? 1 : leader)
        let received = try RealCluster.drain(client, queue.name, count: 300, seconds: 30)
        #expect(received["g"] == sent, "node 3's restored state serves every message, in order")
    }

    /// A leader cut off from both peers (iptables on lo, no connection reset) stops accepting sends once its
    /// check-quorum notices, while the majority elects a leader and keeps serving; after the heal nothing
    /// acknowledged is missing.
    @Test(.enabled(if: isRoot, "iptables needs root"))
    func aPartitionedMinorityLeaderStopsServingWhileTheMajorityServes() throws {
        let cluster = try RealCluster(name: "split", base: 60)
        defer { cluster.down() }
        let client = try cluster.client()
        let queue = try client.createQueue("split.fifo", partitions: 1)
        var sent: [String] = []
        func send(_ n: Int, with client: FerryClient) throws -> Bool {
            let request = SendRequest(body: RealCluster.body("m\(n)"), groupID: "g", deduplicationID: "d\(n)")
            guard case .success? = try client.send(queue.name, [request]).first else { return false }
            sent.append("m\(n)")
            return true
        }
        for n in 0..<10 { #expect(try send(n, with: client)) }
        let minority = try #require(cluster.leader(of: queue.name, partition: 0, client))
        usleep(1_000_000)  // idle: the group quiesces, so its followers must notice the silence of the leader's node
        try cluster.partition([minority])
        defer { try? cluster.heal() }

        // The old leader, asked directly, refuses (notLeader) or cannot commit (no answer in time).
        usleep(1_500_000)
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? loops.syncShutdownGracefully() }
        let direct = try Connection(host: cluster.host(minority), port: 7200, group: loops)
        defer { direct.close() }
        let request = SendRequest(body: RealCluster.body("x"), groupID: "g", deduplicationID: "minority")
        let answer = Result {
            try direct.call(.send(queue: queue.name, partition: 0, requests: [request]), timeoutMs: 2_000)
        }
        switch answer {
        case .success(.error(let error)):
            #expect(error.code == .notLeader || error.code == .unavailable, "\(error)")
        case .failure(let error):
            #expect("\(error)".contains("timeout"), "\(error)")
        case .success(let other):
            Issue.record("the minority leader answered a send: \(other)")
        }

        // The majority side serves.
        let majority = try FerryClient(
            endpoints: (1...3).filter { $0 != minority }.map { "\(cluster.host($0)):7200" },
            options: { () -> FerryClient.Options in
                var options = FerryClient.Options()
                options.retryDeadlineMs = 10_000
                return options
            }()
        )
        for n in 10..<60 { #expect(try send(n, with: majority)) }
        #expect(cluster.leader(of: queue.name, partition: 0, majority) != minority)

        try cluster.heal()
        let received = try RealCluster.drain(client, queue.name, count: sent.count, seconds: 30)
        #expect(received["g"] == sent, "every acknowledged send, in order, and nothing from the minority")
    }

    /// Regression (found by the chaos kill-all scenario): right after the whole cluster restarts, a node that has
    /// not caught up on the metadata log must not answer `queueNotFound` for a queue that exists (a definitive
    /// refusal of a send that may have been enqueued before the crash), only a retriable refusal.
    @Test func aQueueIsNeverReportedMissingWhileTheClusterRestarts() throws {
        let cluster = try RealCluster(name: "restart", base: 80)
        defer { cluster.down() }
        let client = try cluster.client(requestTimeoutMs: 1_000, retryDeadlineMs: 20_000)
        let queue = try client.createQueue("restart.fifo", partitions: 2)
        _ = try client.send(queue.name, [SendRequest(body: RealCluster.body("a"), groupID: "g", deduplicationID: "a")])
        for id in 1...3 { try cluster.kill(id) }
        for id in 1...3 { try cluster.start(id) }
        // The application's client (it knows the queue) sends at once: it must wait, never be told "missing".
        let outcome = try client.send(
            queue.name,
            [SendRequest(body: RealCluster.body("b"), groupID: "g", deduplicationID: "b")]
        )
        guard case .success? = outcome.first else {
            Issue.record("send after the restart answered \(outcome)")
            return
        }
        let received = try RealCluster.drain(client, queue.name, count: 2, seconds: 20)
        #expect(received["g"] == ["a", "b"])
    }

    /// SIGTERM to the node leading the most partitions while a producer runs: it hands its leaderships off and
    /// exits within 5 s, and no send fails.
    @Test func aNodeStoppedWithSigtermHandsOffItsLeadershipsWithNoFailedSend() throws {
        let cluster = try RealCluster(name: "sigterm", base: 70)
        defer { cluster.down() }
        let client = try cluster.client()
        let queue = try client.createQueue("handoff.fifo", partitions: 4)
        _ = try client.send(
            queue.name,
            [SendRequest(body: RealCluster.body("warm"), groupID: "w", deduplicationID: "w")]
        )
        let leaders = (UInt32(0)..<4).compactMap { cluster.leader(of: queue.name, partition: $0, client) }
        let busiest = try #require(
            leaders.max { a, b in leaders.filter { $0 == a }.count < leaders.filter { $0 == b }.count }
        )
        let pid = try #require(cluster.pid(busiest))

        let sent = NIOLockedValueBox(0)
        let failures = NIOLockedValueBox<[String]>([])
        let running = NIOLockedValueBox(true)
        let producerDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            defer { producerDone.signal() }
            var n = 0
            while running.withLockedValue({ $0 }) && n < 5_000 {
                let request = SendRequest(
                    body: RealCluster.body("m\(n)"),
                    groupID: "g\(n % 8)",
                    deduplicationID: "d\(n)"
                )
                do {
                    let outcome = try client.send(queue.name, [request]).first!
                    if case .failure(let error) = outcome { failures.withLockedValue { $0.append("m\(n): \(error)") } }
                } catch {
                    failures.withLockedValue { $0.append("m\(n): \(error)") }
                }
                n += 1
                sent.withLockedValue { $0 = n }
            }
        }
        usleep(1_000_000)
        let before = sent.withLockedValue { $0 }
        let stopStart = Date()
        Glibc.kill(pid, SIGTERM)
        let exited = RealCluster.eventually(5) { Glibc.kill(pid, 0) != 0 }
        let stopSeconds = Date().timeIntervalSince(stopStart)
        usleep(1_000_000)
        running.withLockedValue { $0 = false }
        producerDone.wait()
        #expect(exited, "the node exited within 5 s of SIGTERM (took \(stopSeconds) s)")
        #expect(cluster.log(busiest).contains("handing off"))
        #expect(sent.withLockedValue { $0 } > before, "sends went on during and after the stop")
        #expect(failures.withLockedValue { $0 }.isEmpty, "\(failures.withLockedValue { $0.prefix(5) })")
    }
}
