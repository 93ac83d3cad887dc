import FerryModel
import FerryQueue
import FerryWire

/// Where this node sends a client request for a queue's partition: serve it on the local group, or refuse it
/// with the answer that sends the client on (a value: the catalog and the local groups' states in, a decision
/// out, so every rule is a unit test).
package enum PartitionRouting {
    /// What the node knows of one of its Raft groups.
    package struct GroupState: Equatable {
        package var isLeader: Bool
        /// It hears a majority of the group's voters (node liveness).
        package var hasLiveQuorum: Bool
        package var leaderHint: UInt64?
        /// A leader's voters that say they repair after storage damage, when too many of them do for the
        /// healthy ones to make a majority (the group cannot commit until they are repaired, which it cannot do
        /// either: it stops, and says why). Empty otherwise.
        package var repairingMajority: [UInt64]
        /// This replica repairs after storage damage (`RaftCore.repairing`): it votes for no one.
        package var repairing: Bool

        package init(
            isLeader: Bool,
            hasLiveQuorum: Bool,
            leaderHint: UInt64?,
            repairingMajority: [UInt64] = [],
            repairing: Bool = false
        ) {
            self.isLeader = isLeader
            self.hasLiveQuorum = hasLiveQuorum
            self.leaderHint = leaderHint
            self.repairingMajority = repairingMajority
            self.repairing = repairing
        }
    }

    package enum Decision: Equatable {
        case serve(groupID: UInt64)
        case refuse(WireError)
        /// A leader that hears no majority: refused, and the group wakes so that check-quorum steps it down.
        case refuseAndWake(groupID: UInt64, WireError)
    }

    /// - Parameters:
    ///   - metadata: the metadata group's state here and whether it is caught up (it knows its leader and
    ///     applied what it knows committed); asked only for a queue the catalog does not list.
    ///   - local: the state of a group this node holds a replica of (nil: none here). Its `hasLiveQuorum`
    ///     matters only when it leads.
    package static func route(
        queue: String,
        partition: UInt32,
        node: UInt64,
        catalog: Catalog,
        metadata: () -> (state: GroupState, caughtUp: Bool),
        local: (UInt64) -> GroupState?
    ) -> Decision {
        guard let described = catalog.queues[queue] else {
            let (metadata, metadataCaughtUp) = metadata()
            // "No such queue" is definitive for clients: only the metadata leader, caught up and hearing a
            // majority, may say it. Another node may not have applied the creation yet: it sends the client there.
            if metadata.isLeader && metadataCaughtUp && metadata.hasLiveQuorum {
                return .refuse(WireError(.queueNotFound, "queue \(queue) does not exist"))
            }
            guard metadataCaughtUp, let leader = metadata.leaderHint, leader != node else {
                return .refuse(catchingUp(node))
            }
            return .refuse(
                WireError(
                    .notLeader,
                    "node \(node) does not know \(queue); ask the metadata leader",
                    leaderHint: leader
                )
            )
        }
        guard Int(partition) < described.partitions.count else {
            return .refuse(
                WireError(.invalidArgument, "queue \(queue) has \(described.partitions.count) partitions")
            )
        }
        let placed = described.partitions[Int(partition)]
        let group = local(placed.groupID)
        if let group, group.isLeader {
            guard group.hasLiveQuorum else {
                // A leader that hears from no majority (a quiesced one has not ticked its check-quorum) must not
                // take sends it cannot commit: the client goes to the other side, where a new leader is elected.
                return .refuseAndWake(
                    groupID: placed.groupID,
                    WireError(.unavailable, "node \(node) cannot reach a majority of \(queue)/\(partition)'s replicas")
                )
            }
            guard group.repairingMajority.isEmpty else {
                let nodes = group.repairingMajority.map(String.init).joined(separator: ", ")
                return .refuse(
                    WireError(
                        .unavailable,
                        "\(queue)/\(partition) stopped: its replicas on nodes \(nodes) repair after storage damage, "
                            + "and the undamaged ones are no majority; it cannot commit (ferry cluster status)"
                    )
                )
            }
            return .serve(groupID: placed.groupID)
        }
        // A repairing replica that knows no leader may be in a group that cannot elect one (its leader was
        // damaged too): it says why it refuses, which `notLeader` with no one to go to would not.
        if let group, group.repairing, group.leaderHint == nil {
            return .refuse(
                WireError(
                    .unavailable,
                    "node \(node)'s replica of \(queue)/\(partition) repairs after storage damage and knows no "
                        + "leader; with a majority of replicas damaged none can be elected (ferry cluster status)"
                )
            )
        }
        // A local replica knows the leader or knows that it does not (0: ask another node); a node without a
        // replica points at the preferred leader.
        let hint = group.map { $0.leaderHint ?? 0 } ?? placed.preferredLeader
        return .refuse(WireError(.notLeader, "node \(node) does not lead \(queue)/\(partition)", leaderHint: hint))
    }

    package static func catchingUp(_ node: UInt64) -> WireError {
        WireError(.unavailable, "node \(node) is catching up on the metadata log; retry")
    }
}
