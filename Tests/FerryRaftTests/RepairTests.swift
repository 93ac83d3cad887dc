import FerryRaft
import NIOCore
import Testing

/// Protocol-aware recovery (issue 18): a replica whose storage was damaged starts with its log discarded and
/// `repairing`; it votes for no one, never campaigns, and the leader does not count it toward commit, until its
/// log holds a commit index of the leader's term.
@Suite struct RepairTests {
    static func repairing(id: NodeID, storage: MemoryLog = MemoryLog(conf: ConfState(voters: [1, 2, 3]))) -> TestNode {
        var node = TestNode(id: id, storage: storage)
        node.core = try! RaftCore(
            id: id,
            config: RaftConfig(),
            storage: storage,
            randomSeed: id,
            repairing: true
        )
        return node
    }

    @Test func aRepairingReplicaGrantsNoVoteAndNeverCampaigns() {
        var node = Self.repairing(id: 2)
        #expect(
            node.handle(msg(1, 2, 2, .requestVote(lastIndex: 5, lastTerm: 1, leadershipTransfer: false)))
                == [msg(2, 1, 2, .requestVoteResponse(granted: false))]
        )
        #expect(
            node.handle(msg(3, 2, 3, .preVote(lastIndex: 5, lastTerm: 1)))
                == [msg(2, 3, 2, .preVoteResponse(granted: false))]
        )
        for _ in 0..<100 { node.core.tick() }
        #expect(node.core.roleKind == .follower)
        #expect(
            node.drain().allSatisfy { message in
                if case .preVote = message.body { return false }
                if case .requestVote = message.body { return false }
                return true
            }
        )
        node.core.step(msg(1, 2, 2, .timeoutNow))
        #expect(node.core.roleKind == .follower, "a leadership transfer does not make it campaign either")
    }

    /// Its acknowledgements say it repairs; the repair ends once its log holds a commit of the leader's term, and
    /// it then abstains through that term but votes in the next.
    @Test func theRepairEndsAtACommitOfTheLeadersTerm() {
        var node = Self.repairing(id: 2)
        // The leader of term 3 sends entries of terms 1 and 3 with commit 1 (of term 1): not yet repaired.
        let first = node.handle(
            msg(
                1,
                2,
                3,
                .append(AppendRequest(prevIndex: 0, prevTerm: 0, entries: [entry(1, 1), entry(2, 3)], commit: 1))
            )
        )
        #expect(first == [msg(2, 1, 3, .appendResponse(AppendResponse(index: 2, repairing: true)))])
        #expect(node.core.repairing)
        // A heartbeat's commit is not taken (it rests on what the leader believes this log holds); the answer says
        // where this log ends.
        #expect(
            node.handle(msg(1, 2, 3, .heartbeat(commit: 2)))
                == [
                    msg(2, 1, 3, .appendResponse(AppendResponse(index: 2, reject: true, hintIndex: 2, repairing: true)))
                ]
        )
        #expect(node.core.repairing && node.core.commitIndex == 1)
        // An append with commit 2 (of term 3): repaired.
        let next = node.handle(
            msg(1, 2, 3, .append(AppendRequest(prevIndex: 2, prevTerm: 3, entries: [entry(3, 3)], commit: 2)))
        )
        #expect(next == [msg(2, 1, 3, .appendResponse(AppendResponse(index: 3, repairing: true)))])
        #expect(!node.core.repairing && node.core.abstainThroughTerm == 3)
        // The leader's node is lost; a candidate of term 3 asks (this replica may have voted in 3 before its vote
        // record was lost): refused, where a healthy replica that has not voted in 3 would grant it.
        node.core.forgetLeader()
        #expect(
            node.handle(msg(3, 2, 3, .requestVote(lastIndex: 3, lastTerm: 3, leadershipTransfer: true)))
                == [msg(2, 3, 3, .requestVoteResponse(granted: false))]
        )
        var healthy = TestNode(id: 2, storage: storage(terms: [1, 3, 3]))
        healthy.core.forgetLeader()
        #expect(
            healthy.handle(msg(3, 2, 3, .requestVote(lastIndex: 3, lastTerm: 3, leadershipTransfer: true)))
                == [msg(2, 3, 3, .requestVoteResponse(granted: true))]
        )
        // Term 4: granted (a transfer, so that the leader's lease does not hold the request back).
        #expect(
            node.handle(msg(3, 2, 4, .requestVote(lastIndex: 3, lastTerm: 3, leadershipTransfer: true)))
                == [msg(2, 3, 4, .requestVoteResponse(granted: true))]
        )
    }

    /// The leader counts only healthy replicas toward commit: with one follower repairing and the other silent,
    /// nothing commits; the healthy one's acknowledgement commits.
    @Test func aLeaderDoesNotCountARepairingFollowerTowardCommit() {
        var leader = TestNode(id: 1)
        leader.becomeLeaderWithoutCommitting()
        #expect(leader.core.isLeader)
        let last = leader.core.lastIndex
        leader.core.step(msg(2, 1, leader.core.term, .appendResponse(AppendResponse(index: last, repairing: true))))
        _ = leader.drain()
        #expect(leader.core.commitIndex < last)
        leader.core.step(msg(3, 1, leader.core.term, .appendResponse(AppendResponse(index: last))))
        _ = leader.drain()
        #expect(leader.core.commitIndex == last)
    }

    /// An idle leader whose follower discarded its log (its match there is stale) learns it from the answer to a
    /// heartbeat and sends it the log again.
    @Test func anIdleLeaderRefillsARepairingFollower() {
        var leader = TestNode(id: 1)
        leader.becomeLeader()
        let term = leader.core.term
        let last = leader.core.lastIndex
        leader.core.step(msg(2, 1, term, .appendResponse(AppendResponse(index: last))))
        leader.core.step(msg(3, 1, term, .appendResponse(AppendResponse(index: last))))
        _ = leader.drain()
        // Node 2 restarted repairing with an empty log; its answer to a heartbeat says so.
        let sent = leader.handle(
            msg(2, 1, term, .appendResponse(AppendResponse(index: 0, reject: true, hintIndex: 0, repairing: true)))
        )
        let appends = sent.filter { message in
            if case .append(let request) = message.body { return message.to == 2 && request.prevIndex == 0 }
            return false
        }
        #expect(appends.count == 1, "\(sent)")
        #expect(leader.core.status.progress[2]?.match == 0)
    }

    /// A repairing replica that hears nothing for an election timeout (its group idle, its leader quiet) tells the
    /// voters where its log ends, so that the leader wakes and refills it.
    @Test func aRepairingReplicaThatHearsNothingCallsForItsLog() {
        var node = Self.repairing(id: 2)
        var sent: [RaftMessage] = []
        for _ in 0..<(RaftConfig().electionTimeoutTicks * 2) {
            node.core.tick()
            sent += node.drain()
        }
        let calls = sent.filter { $0.body == .appendResponse(AppendResponse(index: 0, reject: true, repairing: true)) }
        #expect(Set(calls.map(\.to)) == [1, 3])
    }
}
