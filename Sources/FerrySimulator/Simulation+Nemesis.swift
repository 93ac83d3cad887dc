import FerryQueue
import FerryRaft
import NIOCore

/// Fault injection during the fault phase, and the liveness checks after everything heals.
extension Simulation {
    enum Fault: CaseIterable {
        case crash, crashLeader, restart, pause, resume
        case partitionSymmetric, partitionOneWay, partitionNonTransitive, isolateLeader, heal
        case transferLeadership, campaign
        case addNode, promote, removeMember, removeLeader
    }

    func weight(_ fault: Fault) -> Int {
        let w = config.faultWeights
        switch fault {
        case .crash: return w.crash
        case .crashLeader: return w.crashLeader
        case .restart: return w.restart
        case .pause: return w.pause
        case .resume: return w.resume
        case .partitionSymmetric: return w.partitionSymmetric
        case .partitionOneWay: return w.partitionOneWay
        case .partitionNonTransitive: return w.partitionNonTransitive
        case .isolateLeader: return w.isolateLeader
        case .heal: return w.heal
        case .transferLeadership: return w.transferLeadership
        case .campaign: return w.campaign
        case .addNode: return config.membershipWeights.addNode
        case .promote: return config.membershipWeights.promote
        case .removeMember: return config.membershipWeights.removeMember
        case .removeLeader: return config.membershipWeights.removeLeader
        }
    }

    var memberIDs: [NodeID] { nodes.map(\.id) }

    var currentLeader: NodeID? {
        nodes.filter { $0.isUp && $0.core!.isLeader }.max { $0.core!.term < $1.core!.term }?.id
    }

    func nemesis() throws(InvariantViolation) {
        let total = Fault.allCases.reduce(0) { $0 + weight($1) }
        guard total > 0 else { return }
        var draw = rng.uniform(0..<total)
        var chosen = Fault.heal
        for fault in Fault.allCases {
            if draw < weight(fault) {
                chosen = fault
                break
            }
            draw -= weight(fault)
        }
        faults += 1
        let up = nodes.filter { $0.isUp }.map(\.id)
        switch chosen {
        case .crash:
            if let node = up.randomElement(using: &rng) { try crash(node) }
        case .crashLeader:
            if let node = currentLeader { try crash(node) }
        case .restart:
            if let node = nodes.filter({ !$0.isUp }).map(\.id).randomElement(using: &rng) {
                note("restart \(node)")
                try startNode(node)
            }
        case .pause:
            if let node = nodes.filter({ $0.isUp && !$0.paused }).map(\.id).randomElement(using: &rng) {
                note("pause \(node)")
                nodes[index(node)].paused = true
            }
        case .resume:
            if let node = nodes.filter({ $0.isUp && $0.paused }).map(\.id).randomElement(using: &rng) {
                try resume(node)
            }
        case .partitionSymmetric:
            var shuffled = memberIDs
            shuffled.shuffle(using: &rng)
            let cut = rng.uniform(1..<shuffled.count)
            let side = Set(shuffled[..<cut])
            blocked = []
            for a in memberIDs where side.contains(a) {
                for b in memberIDs where !side.contains(b) {
                    blocked.insert(Link(from: a, to: b))
                    blocked.insert(Link(from: b, to: a))
                }
            }
            note("partition \(side.sorted()) | \(memberIDs.filter { !side.contains($0) })")
        case .partitionOneWay:
            let a = memberIDs.randomElement(using: &rng)!
            let b = memberIDs.filter { $0 != a }.randomElement(using: &rng)!
            blocked.insert(Link(from: a, to: b))
            note("partition one-way \(a) -/-> \(b)")
        case .partitionNonTransitive:
            // a and c cannot talk, but both reach everyone else: a bridge node sees both.
            let a = memberIDs.randomElement(using: &rng)!
            let c = memberIDs.filter { $0 != a }.randomElement(using: &rng)!
            blocked = [Link(from: a, to: c), Link(from: c, to: a)]
            note("partition non-transitive \(a) <-/-> \(c)")
        case .isolateLeader:
            if let leader = currentLeader {
                blocked = []
                for other in memberIDs where other != leader {
                    blocked.insert(Link(from: leader, to: other))
                    blocked.insert(Link(from: other, to: leader))
                }
                note("isolate leader \(leader)")
            }
        case .heal:
            blocked = []
            note("heal partitions")
        case .transferLeadership:
            if let leader = currentLeader {
                let target = NodeID(rng.uniform(1...config.voters))
                note("transfer leadership \(leader) -> \(target)")
                try? nodes[index(leader)].core!.transferLeadership(to: target)
                try processReady(leader)
            }
        case .campaign:
            if let node = up.randomElement(using: &rng), !nodes[index(node)].paused {
                note("campaign \(node)")
                nodes[index(node)].core!.campaign()
                try processReady(node)
            }
        case .addNode, .promote, .removeMember, .removeLeader:
            try changeMembership(chosen)
        }
    }

    func resume(_ node: NodeID) throws(InvariantViolation) {
        let i = index(node)
        note("resume \(node)")
        nodes[i].paused = false
        let inbox = nodes[i].pausedInbox
        nodes[i].pausedInbox = []
        if !inbox.isEmpty { probe(.deliveredAfterPause) }
        for (from, frame) in inbox {
            // The frames waited in the socket buffer; they arrive now, in order.
            queue.schedule(.deliver(from: from, to: node, frame: frame), at: now)
        }
        try completeDurableReadies(node)
    }

    /// Ends the fault phase: the network becomes reliable, partitions heal, every node runs.
    func heal() throws(InvariantViolation) {
        faultPhase = false
        blocked = []
        note("heal: end of faults")
        for node in nodes {
            if !node.isUp {
                try startNode(node.id)
            } else if node.paused {
                try resume(node.id)
            }
        }
    }

    var slowestTickInterval: UInt64 { nodes.map(\.tickInterval).max() ?? config.tickInterval }

    /// After healing: a leader within 10 election timeouts; then a new proposal is acknowledged and every
    /// acknowledged proposal is applied on every node within a bounded time.
    func checkLiveness() throws(InvariantViolation) {
        let electionTimeout = UInt64(config.raft.electionTimeoutTicks) * slowestTickInterval
        let leaderDeadline = now + 10 * electionTimeout
        while !hasStableLeader() {
            guard now < leaderDeadline else {
                throw InvariantViolation(
                    invariant: "livenessLeader",
                    detail: "no leader within 10 election timeouts: \(nodeSummaries)"
                )
            }
            try step()
        }
        note("liveness: leader \(currentLeader ?? 0)")
        let catchUpDeadline = now + 200 * electionTimeout
        var barrier: (id: UInt64, node: NodeID, term: Term)?
        while true {
            if let barrier, acknowledged[barrier.id] != nil,
                currentMembers.allSatisfy({ nodes[index($0)].stateMachine.appliedIndex >= highestAcknowledged })
            {
                return
            }
            guard now < catchUpDeadline else {
                let applied = currentMembers.map { "\($0):\(nodes[index($0)].stateMachine.appliedIndex)" }
                    .joined(separator: " ")
                let state = barrier.map { acknowledged[$0.id] != nil ? "acknowledged" : "pending" } ?? "not proposed"
                let leader = currentLeader.flatMap { nodes[index($0)].core }
                let view = leader.map { core in
                    "; leader \(core.id) of \(core.membership): "
                        + core.status.progress.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                        .joined(separator: ", ")
                }
                throw InvariantViolation(
                    invariant: "livenessApply",
                    detail: "acknowledged up to \(highestAcknowledged), barrier \(state); applied \(applied)"
                        + (view ?? "; no leader: \(nodeSummaries)")
                )
            }
            // Propose a barrier, and again whenever the leader that took it lost its leadership first.
            let barrierLost = barrier.map { barrier in
                let core = nodes[index(barrier.node)].core
                return acknowledged[barrier.id] == nil && (core?.isLeader != true || core?.term != barrier.term)
            }
            if barrierLost ?? true, let leader = currentLeader {
                barrier = try proposeBarrier(at: leader) ?? barrier
            }
            try step()
        }
    }

    /// Each running node's role, term, commit, last index and membership: what a liveness failure reports.
    var nodeSummaries: String {
        nodes.compactMap { node in
            node.core.map { core in
                "\(node.id) \(core.roleKind.rawValue) term \(core.term) commit \(core.commitIndex) last "
                    + "\(core.lastIndex) voters \(core.membership.voters) learners \(core.membership.learners)"
            }
        }.joined(separator: "; ")
    }

    /// True when some node leads and no running member knows a higher term. (A removed node that never learned
    /// of its removal may campaign in ever higher terms without pre-vote; the members' leases ignore it.)
    func hasStableLeader() -> Bool {
        guard let leader = currentLeader, let term = nodes[index(leader)].core?.term else { return false }
        return currentMembers.allSatisfy { (nodes[index($0)].core?.term ?? 0) <= term }
    }

    /// The members as the current leader sees them (every node when there is none).
    var currentMembers: [NodeID] {
        guard let leader = currentLeader, let core = nodes[index(leader)].core else { return memberIDs }
        return core.membership.members
    }

    func proposeBarrier(at leader: NodeID) throws(InvariantViolation) -> (id: UInt64, node: NodeID, term: Term)? {
        var payload = ByteBuffer()
        let id = nextPayloadID
        nextPayloadID += 1
        if queueWorkload != nil {
            // In queue mode every entry is a queue command; the barrier is a time entry.
            payload = QueueEntry(timestampMs: stamp(at: leader), command: .advanceTime).encoded()
        } else {
            payload.writeInteger(id)
        }
        let ticket: ProposalTicket
        do {
            ticket = try nodes[index(leader)].core!.propose([payload])
        } catch {
            note("barrier proposal at \(leader) refused: \(error)")
            return nil
        }
        note("barrier proposal \(id) at \(leader): index \(ticket.firstIndex) term \(ticket.term)")
        pendingProposals[ProposalKey(node: leader, index: ticket.firstIndex)] = (ticket.term, id)
        try processReady(leader)
        return (id, leader, ticket.term)
    }
}
