import FerryRaft

/// Membership faults (`SimConfig.membershipSwarm`): the nemesis asks the current leader for a change, whatever
/// else is going on (partitions, crashes, pauses, a transfer), sometimes two at once. A node joins with an empty
/// disk under an id never used before (a replaced machine never reuses a voter's id); a removed node keeps
/// running and sending, and may not know it was removed.
extension Simulation {
    func changeMembership(_ fault: Fault) throws(InvariantViolation) {
        guard let leader = currentLeader, !nodes[index(leader)].paused else { return }
        guard let first = try pickChange(fault, leader: leader) else { return }
        var changes = [first]
        if rng.chance(percent: config.membershipWeights.secondChangePercent) {
            // At most one new node per round, so that ids stay dense.
            let kinds: [Fault] = first.isAddLearner ? [.promote, .removeMember] : [.addNode, .promote, .removeMember]
            if let second = try pickChange(kinds.randomElement(using: &rng)!, leader: leader, besides: first.node) {
                changes.append(second)
            }
        }
        for (position, change) in changes.enumerated() {
            let ticket: ProposalTicket
            do {
                ticket = try nodes[index(leader)].core!.proposeMembershipChange(change)
            } catch {
                note("membership: \(leader) refuses \(change): \(error)")
                if position > 0, case .changeInProgress = error { probe(.secondChangeRefused) }
                continue
            }
            note("membership: \(leader) proposes \(change) at \(ticket.firstIndex)/\(ticket.term)")
            switch change {
            case .addLearner(let node):
                probe(.memberAdded)
                try addEmptyNode(node)
            case .promote: probe(.learnerPromoted)
            case .remove(let node): probe(node == leader ? .leaderRemovedItself : .memberRemoved)
            }
        }
        try processReady(leader)
        if rng.chance(percent: config.membershipWeights.crashMidChangePercent), let core = nodes[index(leader)].core,
            core.isLeader
        {
            probe(.crashedMidChange)
            let delay = rng.uniform(0...2 * nodes[index(leader)].tickInterval)
            queue.schedule(.crashLeader(leader, term: core.term), at: now + delay)
        }
    }

    /// A change of the kind `fault` names that the leader's membership admits, or nil.
    private func pickChange(
        _ fault: Fault,
        leader: NodeID,
        besides other: NodeID = 0
    ) throws(InvariantViolation) -> MembershipChange? {
        let conf = nodes[index(leader)].core!.membership
        switch fault {
        case .addNode:
            guard nodes.count < config.maxNodes else { return nil }
            return .addLearner(NodeID(nodes.count + 1))
        case .promote:
            return conf.learners.filter { $0 != other }.randomElement(using: &rng).map { .promote($0) }
        case .removeMember:
            return conf.members.filter { $0 != other && $0 != leader }.randomElement(using: &rng).map { .remove($0) }
        case .removeLeader:
            return other == leader ? nil : .remove(leader)
        default:
            return nil
        }
    }

    /// Starts a node with an empty disk and a new id: a machine that joins.
    private func addEmptyNode(_ id: NodeID) throws(InvariantViolation) {
        precondition(id == NodeID(nodes.count + 1), "node ids are dense")
        let skew = rng.uniform(80...125)
        nodes.append(
            SimNode(id: id, conf: ConfState(voters: []), tickInterval: config.tickInterval * UInt64(skew) / 100)
        )
        note("membership: node \(id) starts with an empty disk")
        try startNode(id)
    }
}

extension MembershipChange {
    fileprivate var isAddLearner: Bool {
        if case .addLearner = self { return true }
        return false
    }
}
