import FerryModel
import FerryQueue
import NIOCore
import Testing

/// Nodes joining, leaving and being replaced, as the catalog records them: the voters each group should have.
@Suite struct CatalogMembershipTests {
    typealias Harness = CatalogTests.Harness

    static func node(_ id: UInt64) -> CatalogNode {
        CatalogNode(id: id, host: "127.0.0.\(10 + id)", peerPort: 7100, clientPort: 7200, httpPort: 7300)
    }

    /// Three nodes with `queues` queues of four partitions.
    static func cluster(nodes: Int = 3, queues: Int = 3) -> Harness {
        var harness = CatalogTests.bootstrapped(nodes)
        for n in 0..<queues {
            _ = harness.apply(.createQueue(name: "q\(n)", partitions: 4, attributes: QueueAttributes()))
        }
        return harness
    }

    static func partitions(_ catalog: Catalog) -> [CatalogPartition] {
        catalog.sortedQueues.flatMap(\.partitions)
    }

    /// Every partition has `factor` distinct replicas on active nodes, a preferred leader among them, and created
    /// replicas that are still wanted.
    static func checkPlacement(_ catalog: Catalog, factor: Int) {
        let active = Set(catalog.activeNodes.map(\.id))
        for partition in partitions(catalog) {
            #expect(partition.replicas.count == factor && Set(partition.replicas).count == factor)
            #expect(Set(partition.replicas).isSubset(of: active))
            #expect(partition.replicas.contains(partition.preferredLeader))
            #expect(
                Set(partition.createdReplicas).subtracting(partition.departed).isSubset(of: Set(partition.replicas))
            )
        }
        let counts = catalog.replicaCounts.values
        #expect(counts.max()! - counts.min()! <= 1, "replica counts \(catalog.replicaCounts)")
    }

    @Test func addingNodesSpreadsReplicasOntoThemWithFewMoves() {
        var harness = Self.cluster()
        let before = Self.partitions(harness.catalog)
        #expect(harness.apply(.addNode(Self.node(4))) == .placementChanged)
        Self.checkPlacement(harness.catalog, factor: 3)
        let after = Self.partitions(harness.catalog)
        // 36 replicas over 4 nodes: 9 each; each moved partition changes one replica.
        #expect(harness.catalog.replicaCounts == [1: 9, 2: 9, 3: 9, 4: 9])
        #expect(zip(before, after).allSatisfy { Set($0.replicas).subtracting($1.replicas).count <= 1 })
        #expect(zip(before, after).filter { $0.replicas != $1.replicas }.count == 9)
        // The new node opens every group it joins empty, as a learner; a replica that moved away never opens the
        // group with its first membership again.
        #expect(after.allSatisfy { $0.initialMembership(for: 4) == [] })
        #expect(zip(before, after).allSatisfy { $0.createdReplicas == $1.createdReplicas })
        for partition in after {
            for node in partition.createdReplicas where !partition.replicas.contains(node) {
                #expect(partition.departed.contains(node) && partition.initialMembership(for: node) == [])
            }
        }
        #expect(harness.apply(.addNode(Self.node(5))) == .placementChanged)
        Self.checkPlacement(harness.catalog, factor: 3)
        #expect(harness.catalog.metadataVoters == [1, 2, 3, 4, 5])
        #expect(
            harness.apply(.addNode(Self.node(6)))
                == .rejected(.invalidNodes("at most 5 active nodes are supported for now"))
        )
        let leaders = Dictionary(grouping: Self.partitions(harness.catalog), by: \.preferredLeader).mapValues(\.count)
        #expect(leaders.values.max()! - leaders.values.min()! <= 1, "preferred leaders \(leaders)")
    }

    @Test func removingNodesMovesTheirReplicasAwayAndShrinksTheMetadataGroup() {
        var harness = Self.cluster(nodes: 5)
        #expect(harness.apply(.removeNode(5)) == .placementChanged)
        #expect(harness.apply(.removeNode(4)) == .placementChanged)
        #expect(harness.catalog.leaving == [4, 5])
        Self.checkPlacement(harness.catalog, factor: 3)
        #expect(!harness.catalog.holdsReplica(4) && !harness.catalog.holdsReplica(5))
        #expect(harness.catalog.metadataVoters == [1, 2, 3])
        // A leaving node is forgotten once nothing wants it; its id is never used again.
        #expect(harness.apply(.forgetNode(5)) == .placementChanged)
        #expect(!harness.catalog.nodes.contains { $0.id == 5 })
        #expect(harness.catalog.retiredNodeIDs == [5])
        guard case .rejected(.invalidNodes) = harness.apply(.addNode(Self.node(5))) else {
            return #expect(Bool(false), "a retired id came back")
        }
        // New queues go to active nodes only.
        guard
            case .queueCreated(let queue) = harness.apply(
                .createQueue(name: "late", partitions: 3, attributes: QueueAttributes())
            )
        else {
            return #expect(Bool(false))
        }
        #expect(queue.partitions.allSatisfy { !$0.replicas.contains(4) })
    }

    @Test func replacingANodeMovesEachOfItsReplicasToTheNewOne() {
        var harness = Self.cluster()
        let before = Self.partitions(harness.catalog)
        #expect(harness.apply(.replaceNode(old: 2, new: Self.node(7))) == .placementChanged)
        let after = Self.partitions(harness.catalog)
        for (old, new) in zip(before, after) {
            #expect(new.replicas == old.replicas.map { $0 == 2 ? 7 : $0 })
            #expect(new.initialMembership(for: 2) == [] && new.initialMembership(for: 7) == [])
        }
        #expect(harness.catalog.leaving == [2])
        #expect(harness.catalog.metadataVoters == [1, 7, 3])
        #expect(harness.apply(.forgetNode(2)) == .placementChanged)
    }

    /// A host whose disk died comes back under a new id at its old address; another node's address stays taken.
    @Test func aReplacementMayTakeTheOldNodesAddressOnly() {
        var harness = Self.cluster()
        let sameHost = CatalogNode(id: 7, host: Self.node(2).host, peerPort: 7100, clientPort: 7200, httpPort: 7300)
        let before = "\(harness.catalog.nodes)"
        #expect(
            harness.apply(.replaceNode(old: 3, new: sameHost))
                == .rejected(.invalidNodes("node 7 reuses a port of node 2 on 127.0.0.12"))
        )
        #expect("\(harness.catalog.nodes)" == before)
        #expect(harness.apply(.replaceNode(old: 2, new: sameHost)) == .placementChanged)
        #expect(harness.catalog.leaving == [2] && harness.catalog.nodes.map(\.id) == [1, 2, 3, 7])
    }

    @Test func movingOnePartitionChangesOneReplica() {
        var harness = Self.cluster()
        _ = harness.apply(.addNode(Self.node(4)))
        let partition = harness.catalog.queues["q0"]!.partitions[0]
        let from = partition.replicas[0]
        let to = harness.catalog.activeNodes.map(\.id).first { !partition.replicas.contains($0) }!
        #expect(harness.apply(.movePartition(name: "q0", partition: 0, from: from, to: to)) == .placementChanged)
        let moved = harness.catalog.queues["q0"]!.partitions[0]
        #expect(moved.replicas == partition.replicas.map { $0 == from ? to : $0 })
        #expect(moved.replicas.contains(moved.preferredLeader))
    }

    /// Bad requests are refused with their reason and change nothing.
    @Test func invalidChangesAreRefusedAndChangeNothing() {
        var harness = Self.cluster()
        func placement(_ catalog: Catalog) -> String {
            "\(catalog.nodes) \(catalog.leaving) \(catalog.retiredNodeIDs) \(catalog.metadataVoters) \(catalog.sortedQueues)"
        }
        func refused(_ command: CatalogCommand) -> Bool {
            let before = placement(harness.catalog)
            guard case .rejected = harness.apply(command) else { return false }
            return placement(harness.catalog) == before
        }
        #expect(refused(.addNode(Self.node(2))), "an existing id")
        #expect(refused(.addNode(CatalogNode(id: 0, host: "h", peerPort: 1, clientPort: 2, httpPort: 3))))
        #expect(refused(.addNode(CatalogNode(id: 9, host: "127.0.0.11", peerPort: 7100, clientPort: 1, httpPort: 2))))
        #expect(refused(.addNode(CatalogNode(id: 9, host: "h", peerPort: 1, clientPort: 1, httpPort: 2))))
        #expect(refused(.removeNode(9)))
        #expect(refused(.forgetNode(1)), "not leaving")
        #expect(refused(.movePartition(name: "q0", partition: 9, from: 1, to: 2)))
        #expect(refused(.movePartition(name: "nope", partition: 0, from: 1, to: 2)))
        #expect(refused(.replaceNode(old: 9, new: Self.node(10))))
        // Three nodes: one may leave (partitions keep two voters), not two.
        #expect(harness.apply(.removeNode(3)) == .placementChanged)
        Self.checkPlacement(harness.catalog, factor: 2)
        #expect(
            harness.apply(.removeNode(2))
                == .rejected(.invalidNodes("removing node 2 would leave 1 active node(s); a group needs two voters"))
        )
        #expect(refused(.forgetNode(9)))
    }

    @Test func snapshotKeepsNodesLeavingRetiredAndCreatedReplicas() throws {
        var harness = Self.cluster(nodes: 4)
        _ = harness.apply(.removeNode(4))
        _ = harness.apply(.forgetNode(4))
        _ = harness.apply(.replaceNode(old: 3, new: Self.node(6)))
        let restored = try Catalog.restore(from: harness.catalog.snapshot())
        #expect(restored == harness.catalog)
        #expect(restored.retiredNodeIDs == [4] && restored.leaving == [3])
    }

    @Test func membershipCommandsRoundTrip() throws {
        let commands: [CatalogCommand] = [
            .addNode(Self.node(4)), .removeNode(4), .replaceNode(old: 2, new: Self.node(9)),
            .movePartition(name: "q", partition: 3, from: 1, to: 4), .forgetNode(4),
        ]
        for command in commands {
            let entry = CatalogEntry(timestampMs: 5, command: command)
            #expect(try CatalogEntry.decode(entry.encoded()) == entry)
        }
    }
}
