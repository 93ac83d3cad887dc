import FerryModel
import FerryNode
import FerryQueue
import FerryWire
import Testing

/// Where a node sends a partition's request (`PartitionRouting`): each rule, without a cluster.
@Suite struct PartitionRoutingTests {
    /// A 3-node catalog with one queue of 2 partitions.
    static let catalog: Catalog = {
        var catalog = Catalog()
        let nodes = (1...3).map {
            CatalogNode(id: UInt64($0), host: "127.0.0.\($0)", peerPort: 1, clientPort: 2, httpPort: 3)
        }
        _ = catalog.apply(index: 1, timestampMs: 0, command: .bootstrap(clusterID: "c", nodes: nodes))
        _ = catalog.apply(
            index: 2,
            timestampMs: 0,
            command: .createQueue(name: "q.fifo", partitions: 2, attributes: QueueAttributes())
        )
        return catalog
    }()

    static let leader = PartitionRouting.GroupState(isLeader: true, hasLiveQuorum: true, leaderHint: 1)
    static let follower = PartitionRouting.GroupState(isLeader: false, hasLiveQuorum: true, leaderHint: 2)

    static func route(
        _ queue: String,
        _ partition: UInt32 = 0,
        metadata: PartitionRouting.GroupState = leader,
        caughtUp: Bool = true,
        local: PartitionRouting.GroupState? = leader
    ) -> PartitionRouting.Decision {
        PartitionRouting.route(
            queue: queue,
            partition: partition,
            node: 1,
            catalog: catalog,
            metadata: { (metadata, caughtUp) }
        ) { _ in local }
    }

    static func code(_ decision: PartitionRouting.Decision) -> (ErrorCode, UInt64)? {
        switch decision {
        case .refuse(let error), .refuseAndWake(_, let error): return (error.code, error.leaderHint)
        case .serve: return nil
        }
    }

    @Test func theLeaderServesItsPartition() {
        let placed = Self.catalog.queues["q.fifo"]!.partitions[1]
        #expect(Self.route("q.fifo", 1) == .serve(groupID: placed.groupID))
    }

    /// Damage on a majority of a partition's replicas (issue 18): its leader cannot commit, and says why.
    @Test func aLeaderWhoseReplicasMostlyRepairRefusesAndSaysWhy() {
        let stopped = PartitionRouting.GroupState(
            isLeader: true,
            hasLiveQuorum: true,
            leaderHint: 1,
            repairingMajority: [2, 3]
        )
        guard case .refuse(let error) = Self.route("q.fifo", 1, local: stopped) else {
            Issue.record("served")
            return
        }
        #expect(error.code == .unavailable)
        #expect(error.message.contains("nodes 2, 3 repair after storage damage"))
    }

    /// A replica that repairs and knows no leader (its partition's leader was damaged too, and no undamaged
    /// majority can elect one) says why it refuses, rather than `notLeader` with no one to go to: a CI run's
    /// client, after visiting every node, reported only "node 1 does not lead".
    @Test func aRepairingReplicaThatKnowsNoLeaderSaysWhy() {
        let repairing = PartitionRouting.GroupState(
            isLeader: false,
            hasLiveQuorum: false,
            leaderHint: nil,
            repairing: true
        )
        guard case .refuse(let error) = Self.route("q.fifo", 1, local: repairing) else {
            Issue.record("served")
            return
        }
        #expect(error.code == .unavailable && error.leaderHint == 0)
        #expect(error.message.contains("node 1's replica of q.fifo/1 repairs after storage damage"))
        // One that knows its leader sends the client there.
        var led = repairing
        led.leaderHint = 3
        #expect(Self.code(Self.route("q.fifo", 1, local: led))! == (.notLeader, 3))
    }

    @Test func onlyTheCaughtUpMetadataLeaderHearingAMajoritySaysAQueueIsMissing() {
        #expect(Self.code(Self.route("nope"))! == (.queueNotFound, 0))
        // A follower sends the client to the metadata leader; a node behind (or one that knows no leader, or a
        // metadata leader without a majority) answers "retry".
        #expect(Self.code(Self.route("nope", metadata: Self.follower))! == (.notLeader, 2))
        #expect(Self.code(Self.route("nope", metadata: Self.follower, caughtUp: false))! == (.unavailable, 0))
        let lonely = PartitionRouting.GroupState(isLeader: true, hasLiveQuorum: false, leaderHint: 1)
        #expect(Self.code(Self.route("nope", metadata: lonely))! == (.unavailable, 0))
    }

    @Test func aPartitionOutOfRangeIsInvalid() {
        #expect(Self.code(Self.route("q.fifo", 2))! == (.invalidArgument, 0))
    }

    @Test func aLeaderWithoutAMajorityRefusesAndWakes() {
        let lonely = PartitionRouting.GroupState(isLeader: true, hasLiveQuorum: false, leaderHint: 1)
        let placed = Self.catalog.queues["q.fifo"]!.partitions[0]
        guard case .refuseAndWake(let id, let error) = Self.route("q.fifo", local: lonely) else {
            Issue.record("expected a refusal that wakes the group")
            return
        }
        #expect(id == placed.groupID && error.code == .unavailable)
    }

    @Test func aFollowerHintsItsLeaderAndANodeWithoutAReplicaThePreferredLeader() {
        #expect(Self.code(Self.route("q.fifo", local: Self.follower))! == (.notLeader, 2))
        let unknown = PartitionRouting.GroupState(isLeader: false, hasLiveQuorum: true, leaderHint: nil)
        #expect(Self.code(Self.route("q.fifo", local: unknown))! == (.notLeader, 0))
        let placed = Self.catalog.queues["q.fifo"]!.partitions[0]
        #expect(Self.code(Self.route("q.fifo", local: nil))! == (.notLeader, placed.preferredLeader))
    }
}
