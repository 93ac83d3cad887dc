import FerryModel

/// Cluster membership in the catalog: which nodes exist, which are leaving, and the voters each group should
/// have. The catalog only says what is wanted; each group's leader moves its Raft membership there one server at
/// a time (`FerryRaft.MembershipPlan`), so a change interrupted by a crash resumes from wherever the group got to.
///
/// Placement stays deterministic (every metadata replica computes the same) and moves as little as it can:
/// a new node takes replicas from the most loaded nodes until the counts differ by at most one; a leaving node's
/// replicas go to the least loaded active nodes; a replaced node's replicas go to its replacement exactly.
extension Catalog {
    /// The most voters the metadata group is given.
    public static let maxMetadataVoters = 5

    mutating func changeNodes(_ command: CatalogCommand) throws(CatalogError) {
        switch command {
        case .addNode(let node):
            try checkNew(node)
            // Every node learns the catalog as a voter of the metadata group (at most five); more nodes would need
            // metadata learners, which are not built yet.
            guard activeNodes.count < Self.maxMetadataVoters else {
                throw .invalidNodes("at most \(Self.maxMetadataVoters) active nodes are supported for now")
            }
            nodes.append(node)
            nodes.sort { $0.id < $1.id }
            rebalance()
        case .removeNode(let id):
            guard nodes.contains(where: { $0.id == id }) else { throw .nodeNotFound(id) }
            guard !leaving.contains(id) else { throw .invalidNodes("node \(id) is already leaving") }
            let remaining = activeNodes.count - 1
            guard remaining >= 2 else {
                throw .invalidNodes(
                    "removing node \(id) would leave \(remaining) active node(s); a group needs two voters"
                )
            }
            leaving = (leaving + [id]).sorted()
            rebalance()
        case .replaceNode(let old, let new):
            guard nodes.contains(where: { $0.id == old }) else { throw .nodeNotFound(old) }
            // The replacement may take the old node's address: a host whose disk died comes back under a new id.
            try checkNew(new, replacing: old)
            nodes.append(new)
            nodes.sort { $0.id < $1.id }
            if !leaving.contains(old) { leaving = (leaving + [old]).sorted() }
            eachPartition { partition in
                if let at = partition.replicas.firstIndex(of: old) { partition.replicas[at] = new.id }
                if partition.preferredLeader == old { partition.preferredLeader = new.id }
            }
            if let at = metadataVoters.firstIndex(of: old) { metadataVoters[at] = new.id }
            rebalance()
        case .movePartition(let name, let number, let from, let to):
            guard let queue = queues[name] else { throw .queueNotFound(name) }
            guard let at = queue.partitions.firstIndex(where: { $0.partition == number }) else {
                throw .partitionNotFound(name, number)
            }
            var partition = queue.partitions[at]
            guard let slot = partition.replicas.firstIndex(of: from) else {
                throw .invalidNodes("node \(from) holds no replica of \(name) partition \(number)")
            }
            guard activeNodes.contains(where: { $0.id == to }) else {
                throw .invalidNodes("node \(to) is not an active node")
            }
            guard !partition.replicas.contains(to) else {
                throw .invalidNodes("node \(to) already holds a replica of \(name) partition \(number)")
            }
            partition.replicas[slot] = to
            if partition.preferredLeader == from { partition.preferredLeader = to }
            partition.noteDeparted()
            queues[name]!.partitions[at] = partition
        case .forgetNode(let id):
            guard nodes.contains(where: { $0.id == id }) else { throw .nodeNotFound(id) }
            guard leaving.contains(id) else { throw .invalidNodes("node \(id) is not leaving") }
            guard !metadataVoters.contains(id), !holdsReplica(id) else {
                throw .invalidNodes("node \(id) still holds replicas")
            }
            nodes.removeAll { $0.id == id }
            leaving.removeAll { $0 == id }
            retiredNodeIDs = (retiredNodeIDs + [id]).sorted()
        default:
            preconditionFailure("not a membership command: \(command)")
        }
    }

    /// Whether any partition still wants `node` as a replica.
    public func holdsReplica(_ node: UInt64) -> Bool {
        queues.values.contains { $0.partitions.contains { $0.replicas.contains(node) } }
    }

    /// Replicas each active node is wanted for, over every partition.
    public var replicaCounts: [UInt64: Int] {
        var counts: [UInt64: Int] = [:]
        for node in activeNodes { counts[node.id] = 0 }
        for queue in queues.values {
            for partition in queue.partitions {
                for replica in partition.replicas where counts[replica] != nil { counts[replica]! += 1 }
            }
        }
        return counts
    }

    private func checkNew(_ node: CatalogNode, replacing old: UInt64? = nil) throws(CatalogError) {
        guard node.id != 0 else { throw .invalidNodes("node id 0 is reserved") }
        guard !nodes.contains(where: { $0.id == node.id }) else { throw .invalidNodes("node \(node.id) exists") }
        guard !retiredNodeIDs.contains(node.id) else {
            throw .invalidNodes("node id \(node.id) belonged to a removed node and is never used again")
        }
        guard !node.host.isEmpty, node.peerPort != 0, node.clientPort != 0, node.httpPort != 0 else {
            throw .invalidNodes("node \(node.id) needs a host and three ports")
        }
        let ports: Set<UInt16> = [node.peerPort, node.clientPort, node.httpPort]
        guard ports.count == 3 else { throw .invalidNodes("node \(node.id) uses one port twice") }
        for other in nodes where other.host == node.host && other.id != old {
            guard ports.isDisjoint(with: [other.peerPort, other.clientPort, other.httpPort]) else {
                throw .invalidNodes("node \(node.id) reuses a port of node \(other.id) on \(node.host)")
            }
        }
    }

    /// Every partition, queues in name order, partitions in order.
    private mutating func eachPartition(_ body: (inout CatalogPartition) -> Void) {
        for name in queues.keys.sorted() {
            for at in queues[name]!.partitions.indices { body(&queues[name]!.partitions[at]) }
        }
    }

    /// Moves wanted replicas off leaving nodes, tops partitions up to the replication factor, then evens out
    /// replica and preferred-leader counts over the active nodes, one move at a time (fewest moves), and keeps
    /// the metadata group at up to five active voters.
    mutating func rebalance() {
        let active = activeNodes.map(\.id)
        guard !active.isEmpty else { return }
        let factor = replicationFactor
        eachPartition { partition in partition.replicas.removeAll { !active.contains($0) } }
        var load = replicaCounts
        func leastLoaded(excluding: [UInt64]) -> UInt64? {
            active.filter { !excluding.contains($0) }.min { (load[$0]!, $0) < (load[$1]!, $1) }
        }
        eachPartition { partition in
            while partition.replicas.count < factor, let node = leastLoaded(excluding: partition.replicas) {
                partition.replicas.append(node)
                load[node]! += 1
            }
        }
        while true {
            let most = active.max { (load[$0]!, $0) < (load[$1]!, $1) }!
            let least = active.min { (load[$0]!, $0) < (load[$1]!, $1) }!
            guard load[most]! - load[least]! > 1 else { break }
            var moved = false
            eachPartition { partition in
                guard !moved, let at = partition.replicas.firstIndex(of: most), !partition.replicas.contains(least)
                else { return }
                partition.replicas[at] = least
                moved = true
            }
            guard moved else { break }
            load[most]! -= 1
            load[least]! += 1
        }
        balancePreferredLeaders(active)
        eachPartition { partition in partition.noteDeparted() }
        metadataVoters.removeAll { !active.contains($0) }
        for node in active where metadataVoters.count < min(Self.maxMetadataVoters, active.count) {
            if !metadataVoters.contains(node) { metadataVoters.append(node) }
        }
    }

    private mutating func balancePreferredLeaders(_ active: [UInt64]) {
        var preferred: [UInt64: Int] = [:]
        for node in active { preferred[node] = 0 }
        eachPartition { partition in
            if !partition.replicas.contains(partition.preferredLeader) {
                partition.preferredLeader = partition.replicas.min { (preferred[$0]!, $0) < (preferred[$1]!, $1) }!
            }
            preferred[partition.preferredLeader]! += 1
        }
        while true {
            let most = active.max { (preferred[$0]!, $0) < (preferred[$1]!, $1) }!
            let least = active.min { (preferred[$0]!, $0) < (preferred[$1]!, $1) }!
            guard preferred[most]! - preferred[least]! > 1 else { return }
            var moved = false
            eachPartition { partition in
                guard !moved, partition.preferredLeader == most, partition.replicas.contains(least) else { return }
                partition.preferredLeader = least
                moved = true
            }
            guard moved else { return }
            preferred[most]! -= 1
            preferred[least]! += 1
        }
    }
}

extension CatalogPartition {
    /// Records every created replica no longer wanted as departed (it never opens the group with the created
    /// membership again).
    mutating func noteDeparted() {
        let gone = createdReplicas.filter { !replicas.contains($0) && !departed.contains($0) }
        if !gone.isEmpty { departed = (departed + gone).sorted() }
    }
}
