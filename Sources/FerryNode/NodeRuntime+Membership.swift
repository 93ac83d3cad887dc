import FerryModel
import FerryQueue
import FerryRaft
import FerryWire
import Logging

/// Cluster membership on the node (issue 16): the metadata group records which nodes exist and which voters
/// each group should have (`Catalog+Membership`); here each group's leader moves its Raft membership there one
/// safe step at a time (`MembershipPlan`), the peer connections follow the catalog's nodes, and a leaving
/// node's metadata leader forgets it once nothing counts it as a member.
extension NodeRuntime {
    /// Every node this one talks to: the catalog's nodes once it knows them (removed nodes are forgotten there),
    /// the configured members before (a joining node's way in).
    var knownNodes: [CatalogNode] {
        (catalog.nodes.isEmpty ? config.members : catalog.nodes).sorted { $0.id < $1.id }
    }

    /// A cluster change from a client, checked here and recorded by the metadata group.
    func changeCluster(_ change: ClusterChange, _ reply: @escaping @Sendable (ClientResponse) -> Void) {
        let command: CatalogCommand
        switch change {
        case .addNode(let node): command = .addNode(node)
        case .removeNode(let id): command = .removeNode(id)
        case .replaceNode(let old, let new): command = .replaceNode(old: old, new: new)
        case .movePartition(let queue, let partition, let from, let to):
            command = .movePartition(name: queue, partition: partition, from: from, to: to)
        }
        switch change {
        case .removeNode(let id), .replaceNode(let id, _), .movePartition(_, _, let id, _):
            if let refusal = quorumRefusal(without: id) { return reply(.error(refusal)) }
        case .addNode:
            break
        }
        proposeCatalog(command, reply)
    }

    /// Why taking `node` out would leave some group without a majority of healthy voters (as this node sees its
    /// peers), or nil.
    func quorumRefusal(without node: UInt64) -> WireError? {
        var groups: [(String, [UInt64])] = [("the metadata group", metadata.core.membership.voters)]
        for queue in catalog.sortedQueues {
            for placed in queue.partitions where placed.replicas.contains(node) {
                groups.append(("\(queue.name) partition \(placed.partition)", placed.replicas))
            }
        }
        for (name, voters) in groups where voters.contains(node) {
            let healthy = voters.filter { $0 != node && ($0 == config.nodeID || !liveness.isSilent($0)) }
            guard healthy.count >= voters.count / 2 + 1 else {
                return WireError(
                    .unavailable,
                    "moving node \(node) out would leave \(name) with \(healthy.count) healthy of \(voters.count) "
                        + "voters, below a majority; bring its replicas back first"
                )
            }
        }
        return nil
    }

    /// Once per housekeeping: each group led here takes its next membership step; new nodes get connections; the
    /// metadata leader forgets a leaving node nothing counts any more.
    func reconcileMembership() {
        let nodes = knownNodes
        if nodes.map(\.id) != peerIDs {
            peerIDs = nodes.map(\.id)
            for node in nodes where node.id != config.nodeID { liveness.add(node.id, at: nowMs) }
            onPeersChanged?(nodes)
        }
        guard tickCount % 5 == 0, !catalog.nodes.isEmpty else { return }
        var wanted: [UInt64: [UInt64]] = [Catalog.metadataGroup: catalog.metadataVoters]
        for queue in catalog.queues.values {
            for placed in queue.partitions { wanted[placed.groupID] = placed.replicas }
        }
        // A node removed from the metadata group while it still led partitions stops learning the catalog, and
        // may not know it (its metadata group then has no leader for good): it hands its leaderships to another
        // voter instead of acting on old wants (node simulator, membership seed 786).
        metadataLeaderlessTicks = metadata.core.leaderHint == nil ? metadataLeaderlessTicks + 1 : 0
        let knowsCatalog =
            metadata.core.membership.members.contains(config.nodeID)
            && metadataLeaderlessTicks < config.electionTicks  // checks every 5 ticks: 5 election timeouts
        for group in orderedGroups where group.isLeader {
            if !knowsCatalog && group.groupID != Catalog.metadataGroup {
                if let other = group.core.membership.voters.first(where: { $0 != config.nodeID }) {
                    try? group.core.transferLeadership(to: other)
                    group.wake()
                }
                continue
            }
            guard let voters = wanted[group.groupID], !voters.isEmpty else { continue }
            let status = group.core.status
            let committed = status.commit
            let step = MembershipPlan.next(current: group.core.membership, wanted: voters, leader: config.nodeID) {
                (status.progress[$0]?.match ?? 0) + LogIndex(raftConfig.maxPromotionLagEntries) >= committed
            }
            switch step {
            case .change(let change):
                if (try? group.core.proposeMembershipChange(change)) != nil {
                    NodeLog.log(
                        .info,
                        "group \(group.groupID): \(change)",
                        .membership,
                        event: "membership",
                        group: group.groupID
                    )
                    group.wake()
                }
            case .transferLeadership(let target):
                try? group.core.transferLeadership(to: target)
                group.wake()
            case .waitForCatchUp:
                group.wake()
            case .done:
                break
            }
        }
        forgetDrainedNodes()
    }

    /// The metadata leader forgets a leaving node that no partition wants and the metadata group no longer
    /// counts (its peers stop dialling it; its id is retired).
    private func forgetDrainedNodes() {
        guard metadata.core.isLeader, !forgetProposed else { return }
        let members = metadata.core.membership.members
        guard
            let drained = catalog.leaving.first(where: {
                !catalog.metadataVoters.contains($0) && !catalog.holdsReplica($0) && !members.contains($0)
            })
        else { return }
        let entry = CatalogEntry(
            timestampMs: metadata.stamp(clusterWallMs: clusterWallMs, nowMs: nowMs),
            command: .forgetNode(drained)
        )
        forgetProposed =
            (try? metadata.propose(entry.encoded()) { [weak self] _ in self?.forgetProposed = false }) != nil
    }
}
