import ChaosCluster
import FerryClient
import FerryModel
import FerryWire
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Disks that fill up or slow down under real `ferry node` processes (issue 18), through the storage fault
/// layer (node.yaml `storage_faults`; the control file `<data_dir>/storage-faults`).
extension RealProcessTests {
    static func storageFaults(_ cluster: RealCluster, _ node: Int, _ words: String) throws {
        let path = "\(cluster.control.directory)/data/\(node)/storage-faults"
        try words.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
        rename(path + ".tmp", path)
    }

    /// Every disk full: sends are refused (`storageFull`, or no answer while a node still believes it leads),
    /// the nodes say why in their status, and nothing is written; once space returns, sends are acknowledged
    /// again and every message acknowledged before, during and after is received exactly once.
    /// The nodes run their group commits on a storage thread (`storage_thread`, issue 19), as the EIO test's do.
    @Test func everyDiskFullRefusesWritesUntilSpaceReturnsAndLosesNothing() throws {
        let cluster = try RealCluster(
            name: "full",
            base: 80,
            extra: "storage_thread: true\nstorage_faults:\n  power_loss: true"
        )
        defer { cluster.down() }
        let client = try cluster.client(requestTimeoutMs: 1_000, retryDeadlineMs: 3_000)
        let queue = try client.createQueue("full.fifo", partitions: 2)
        var acknowledged: Set<String> = []
        // Sends whose outcome is unknown (no answer in time, or a `timeout` answer): enqueued or not.
        var unknown: Set<String> = []
        var refusals: [String] = []
        func send(_ name: String) -> Bool {
            do {
                let outcome = try client.send(
                    queue.name,
                    [SendRequest(body: RealCluster.body(name), groupID: "g\(name.count % 4)", deduplicationID: name)]
                )
                switch outcome[0] {
                case .success:
                    acknowledged.insert(name)
                    return true
                case .failure(let error):
                    if error.code == .timeout { unknown.insert(name) }
                    refusals.append("\(name): \(error.code)")
                }
            } catch {
                if case .timeout = error { unknown.insert(name) }
                if case .server(let refusal) = error, refusal.code == .timeout { unknown.insert(name) }
                refusals.append("\(name): \(error)")
            }
            return false
        }
        for n in 0..<20 { #expect(send("before\(n)")) }
        for node in 1...cluster.nodes { try Self.storageFaults(cluster, node, "full") }
        usleep(300_000)
        var refusedWhileFull = 0
        for n in 0..<5 where !send("full\(n)") { refusedWhileFull += 1 }
        #expect(refusedWhileFull == 5, "no send is acknowledged while every disk is full")
        #expect(
            refusals.contains { $0.contains("storageFull") },
            "the full disk's own code reaches the client: \(refusals)"
        )
        let statuses = (1...cluster.nodes).compactMap { try? client.nodeStatus(host: cluster.host($0), port: 7200) }
        #expect(
            statuses.contains { $0.storageFull.contains("no space left on device") },
            "a node whose group commit met the full disk says so: \(statuses.map(\.storageFull))"
        )
        #expect((1...cluster.nodes).allSatisfy { cluster.control.isRunning($0) }, "no node stopped")
        for node in 1...cluster.nodes { try Self.storageFaults(cluster, node, "") }
        let back = RealCluster.eventually(20) { send("after-probe-\(Int.random(in: 0..<1_000_000))") }
        #expect(back, "sends are acknowledged again once space returns")
        for n in 0..<20 { #expect(send("after\(n)")) }
        let received = try RealCluster.drain(client, queue.name, count: acknowledged.count + unknown.count, seconds: 30)
        let bodies = received.values.flatMap { $0 }
        #expect(Set(bodies).isSuperset(of: acknowledged), "every acknowledged send was received")
        #expect(bodies.count == Set(bodies).count, "none twice")
        #expect(
            Set(bodies).isSubset(of: acknowledged.union(unknown)),
            "nothing refused was enqueued; refusals: \(refusals)"
        )
    }

    /// A failed fsync (EIO) ends the node's process (its unsynced pages cannot be trusted, so it must not go on
    /// writing, nor linger unable to): a supervisor starts it again on its durable log, and nothing acknowledged
    /// is lost. Found by the chaos scenario disk-errors (the process stayed up with its Raft thread stopped).
    /// The fsync fails on the storage thread (`storage_thread: true`, issue 19): the Raft thread learns it when it
    /// records the sync, and stops the same way.
    @Test func aFailedFsyncEndsTheNodeProcessAndARestartLosesNothing() throws {
        let cluster = try RealCluster(
            name: "eio",
            base: 100,
            extra: "storage_thread: true\nstorage_faults:\n  power_loss: true"
        )
        defer { cluster.down() }
        let client = try cluster.client()
        let queue = try client.createQueue("eio.fifo", partitions: 2)
        var acknowledged: [String] = []
        func send(_ name: String) {
            let request = SendRequest(
                body: RealCluster.body(name),
                groupID: "g\(acknowledged.count % 4)",
                deduplicationID: name
            )
            if case .success? = try? client.send(queue.name, [request]).first { acknowledged.append(name) }
        }
        for n in 0..<20 { send("before\(n)") }
        try Self.storageFaults(cluster, 2, "fsync-fail")
        let exited = RealCluster.eventually(15) {
            send("during\(acknowledged.count)")
            return !cluster.control.isRunning(2)
        }
        #expect(exited, "node 2's process ended after its fsync failed")
        #expect(cluster.log(2).contains("fdatasync failed"))
        try Self.storageFaults(cluster, 2, "")
        try cluster.start(2)
        for n in 0..<20 { send("after\(n)") }
        let received = try RealCluster.drain(client, queue.name, count: acknowledged.count, seconds: 30)
        let bodies = received.values.flatMap { $0 }
        #expect(Set(bodies).isSuperset(of: Set(acknowledged)), "every acknowledged send was received")
        #expect(bodies.count == Set(bodies).count, "none twice")
    }

    /// Damage on a majority (issue 18): the partition's leader and one follower are killed together and a bit
    /// of each one's log is flipped. Their groups repair (no vote, not counted toward commit), the undamaged
    /// replica is no majority and cannot be elected, and the cluster stops rather than serve what it cannot
    /// vouch for: no send is acknowledged, nothing is received, and the nodes say why (`ferry cluster status`:
    /// REPAIRING; the repairing replicas' refusals name the repair). A CI run once got only `notLeader` here:
    /// the test then damaged nodes 1 and 2 whichever led, and a repairing replica did not say why it refused.
    @Test func damageOnAMajorityStopsTheGroupsAndSaysWhy() throws {
        let cluster = try RealCluster(name: "majority", base: 110)
        defer { cluster.down() }
        let client = try cluster.client(requestTimeoutMs: 1_000, retryDeadlineMs: 3_000)
        let queue = try client.createQueue("majority.fifo", partitions: 1)
        for n in 0..<50 { try Self.sendOne(client, queue.name, "m\(n)") }
        let (leader, others) = try Self.leader(cluster, client, of: queue.name)
        let damaged = [leader, others[0]]
        for node in damaged { try cluster.kill(node) }
        for node in damaged {
            try Self.flipABit(cluster, node)
            try cluster.start(node)
        }
        #expect(
            RealCluster.eventually(20) { damaged.allSatisfy { Self.repairing(cluster, client, $0) == true } },
            "both damaged replicas repair"
        )
        var refusals: [String] = []
        for n in 0..<3 {
            do {
                try Self.sendOne(client, queue.name, "x\(n)")
                Issue.record("x\(n) acknowledged by a group that cannot commit")
            } catch {
                refusals.append("\(error)")
            }
        }
        #expect(refusals.count == 3)
        #expect(
            refusals.allSatisfy { $0.contains("repairs after storage damage") || $0.contains("timeout") },
            "a refusal says why: \(refusals)"
        )
        #expect((try? client.receive(queue.name, maxMessages: 10, waitMs: 0))?.isEmpty ?? true, "nothing served")
        #expect(
            damaged.allSatisfy { Self.repairing(cluster, client, $0) == true },
            "the damaged replicas still repair: nothing can repair them"
        )
        #expect(cluster.log(others[0]).contains("repairs"), "the damaged nodes log why")
    }

    /// The same damage on both followers, one after the other, while the leader is whole: each repairs from
    /// the leader (which holds every committed entry) before the next is damaged, the group goes on, and
    /// nothing acknowledged is lost.
    @Test func followersDamagedOneAfterTheOtherRepairFromTheirLeader() throws {
        let cluster = try RealCluster(name: "heal", base: 120)
        defer { cluster.down() }
        let client = try cluster.client(requestTimeoutMs: 1_000, retryDeadlineMs: 10_000)
        let queue = try client.createQueue("heal.fifo", partitions: 1)
        for n in 0..<50 { try Self.sendOne(client, queue.name, "m\(n)") }
        let (_, followers) = try Self.leader(cluster, client, of: queue.name)
        for node in followers {
            try cluster.kill(node)
            try Self.flipABit(cluster, node)
            try cluster.start(node)
            // Every group the node holds (the metadata group too, whose leader may be the other follower)
            // repairs from its leader before the next damage.
            try #require(
                RealCluster.eventually(20) { Self.repairing(cluster, client, node) == false },
                "node \(node) ends its repair"
            )
        }
        for n in 0..<20 { try Self.sendOne(client, queue.name, "after\(n)") }
        let received = try RealCluster.drain(client, queue.name, count: 70, seconds: 30)
        let bodies = received.values.flatMap { $0 }
        #expect(bodies == (0..<50).map { "m\($0)" } + (0..<20).map { "after\($0)" }, "all, once, in order")
    }

    static func sendOne(_ client: FerryClient, _ queue: String, _ name: String) throws {
        let outcome = try client.send(
            queue,
            [SendRequest(body: RealCluster.body(name), groupID: "g", deduplicationID: name)]
        )
        if case .failure(let error) = outcome[0] { throw error }
    }

    /// The leader of `queue`'s partition 0 (as node 1 knows it) and the other nodes.
    static func leader(_ cluster: RealCluster, _ client: FerryClient, of queue: String) throws -> (Int, [Int]) {
        let status = try client.nodeStatus(host: cluster.host(1), port: 7200)
        let leader = Int(status.groups.first { $0.queue == queue }?.leader ?? 0)
        try #require(leader != 0, "\(queue)/0 has a leader")
        return (leader, [1, 2, 3].filter { $0 != leader })
    }

    /// Flips a bit of a stopped node's first WAL segment.
    static func flipABit(_ cluster: RealCluster, _ node: Int) throws {
        let segment = "\(cluster.control.directory)/data/\(node)/wal/00000000000000000001.wal"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[64] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
    }

    /// Whether one of the node's groups repairs (nil: the node did not answer).
    static func repairing(_ cluster: RealCluster, _ client: FerryClient, _ node: Int) -> Bool? {
        guard let status = try? client.nodeStatus(host: cluster.host(node), port: 7200) else { return nil }
        return status.groups.contains(where: \.repairing)
    }

    /// A leader whose fsyncs take 400 ms more hands every leadership to its followers (and is given none back
    /// by leader balancing while it stays slow), under a steady trickle of sends that never fails.
    @Test func aSlowDiskHandsItsLeadershipsToItsFollowers() throws {
        let cluster = try RealCluster(name: "slow", base: 90, extra: "storage_faults:\n  power_loss: false")
        defer { cluster.down() }
        let client = try cluster.client()
        let queue = try client.createQueue("slow.fifo", partitions: 4)
        var n = 0
        func send() throws {
            n += 1
            let outcome = try client.send(
                queue.name,
                [SendRequest(body: RealCluster.body("m\(n)"), groupID: "g\(n % 8)", deduplicationID: "d\(n)")]
            )
            if case .failure(let error) = outcome[0] { Issue.record("send \(n) refused: \(error)") }
        }
        func leads(_ node: Int) -> Int {
            guard let status = try? client.nodeStatus(host: cluster.host(node), port: 7200) else { return -1 }
            return status.groups.filter { !$0.queue.isEmpty && $0.leader == UInt64(node) }.count
        }
        #expect(RealCluster.eventually(20) { (try? send()) != nil && leads(1) + leads(2) + leads(3) == 4 })
        let slow = try #require((1...cluster.nodes).max { leads($0) < leads($1) })
        #expect(leads(slow) > 0)
        try Self.storageFaults(cluster, slow, "fsync-delay-ms=400")
        let movedAway = RealCluster.eventually(30) {
            try? send()
            return leads(slow) == 0
        }
        #expect(movedAway, "node \(slow) still leads \(leads(slow)) partitions")
        #expect(cluster.log(slow).contains("slow disk:"))
        // It stays without leaderships while slow, although it is some partitions' preferred leader.
        for _ in 0..<10 { try send() }
        #expect(leads(slow) == 0)
        try Self.storageFaults(cluster, slow, "")
        #expect(
            RealCluster.eventually(20) {
                try? send()
                return cluster.log(slow).contains("disk no longer slow")
            }
        )
    }
}
