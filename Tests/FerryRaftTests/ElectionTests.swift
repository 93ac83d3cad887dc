import FerryRaft
import NIOCore
import Testing

/// Raft §5.2, §5.4.1 and thesis §9.6 (pre-vote), §6.2 (check-quorum, leader lease).
@Suite struct ElectionTests {
    /// Raft §5.2: at most one vote per term, first come first served.
    @Test func followerGrantsVoteOncePerTerm() {
        var node = TestNode(id: 2)
        #expect(
            node.handle(msg(1, 2, 2, .requestVote(lastIndex: 5, lastTerm: 1, leadershipTransfer: false)))
                == [msg(2, 1, 2, .requestVoteResponse(granted: true))]
        )
        #expect(
            node.handle(msg(3, 2, 2, .requestVote(lastIndex: 9, lastTerm: 1, leadershipTransfer: false)))
                == [msg(2, 3, 2, .requestVoteResponse(granted: false))]
        )
        // The same candidate asking again (a retry) is granted again.
        #expect(
            node.handle(msg(1, 2, 2, .requestVote(lastIndex: 5, lastTerm: 1, leadershipTransfer: false)))
                == [msg(2, 1, 2, .requestVoteResponse(granted: true))]
        )
    }

    /// Raft Figure 2 (RequestVote: "reply false if term < currentTerm", with currentTerm): a candidate of an
    /// older term is told the current one and gives up its campaign, so it can campaign above it next time
    /// (membership seed 9762 livelocked while such requests were dropped).
    @Test func staleCandidateIsToldTheCurrentTerm() {
        var node = TestNode(id: 2)
        _ = node.handle(msg(3, 2, 5, .heartbeat(commit: 0)))
        #expect(
            node.handle(msg(1, 2, 4, .requestVote(lastIndex: 9, lastTerm: 4, leadershipTransfer: false)))
                == [msg(2, 1, 5, .requestVoteResponse(granted: false))]
        )
        var candidate = TestNode(id: 1)
        candidate.core.campaign()
        _ = candidate.drain()
        candidate.core.step(msg(2, 1, 7, .requestVoteResponse(granted: false)))
        #expect(candidate.core.roleKind == .follower)
        #expect(candidate.core.term == 7)
    }

    /// Raft §5.4.1: a vote goes only to a candidate whose log is at least as up to date.
    @Test func followerRejectsVoteForLessUpToDateLog() {
        var node = TestNode(id: 2, storage: storage(terms: [1, 1, 2]))
        // Lower last term loses even with a longer log.
        #expect(
            node.handle(msg(1, 2, 3, .requestVote(lastIndex: 10, lastTerm: 1, leadershipTransfer: false)))
                == [msg(2, 1, 3, .requestVoteResponse(granted: false))]
        )
        // Same last term, shorter log loses.
        #expect(
            node.handle(msg(3, 2, 4, .requestVote(lastIndex: 2, lastTerm: 2, leadershipTransfer: false)))
                == [msg(2, 3, 4, .requestVoteResponse(granted: false))]
        )
        #expect(
            node.handle(msg(3, 2, 5, .requestVote(lastIndex: 3, lastTerm: 2, leadershipTransfer: false)))
                == [msg(2, 3, 5, .requestVoteResponse(granted: true))]
        )
    }

    /// A granted vote is a promise: it leaves only after the vote is durable.
    @Test func voteIsSentOnlyAfterItIsPersisted() {
        var node = TestNode(id: 2)
        node.core.step(msg(1, 2, 1, .requestVote(lastIndex: 0, lastTerm: 0, leadershipTransfer: false)))
        let ready = node.core.ready()
        #expect(ready.messages.isEmpty)
        #expect(ready.messagesAfterPersist == [msg(2, 1, 1, .requestVoteResponse(granted: true))])
        #expect(ready.hardState == HardState(term: 1, vote: 1, commit: 0))
        #expect(ready.mustSync)
    }

    /// Thesis §9.6: a pre-vote asks for term+1 without changing anyone's term or vote.
    @Test func preVoteChangesNoTermOrVote() {
        var candidate = TestNode(id: 1)
        candidate.core.campaign()
        let ready = candidate.persist()
        #expect(candidate.core.roleKind == .preCandidate)
        #expect(candidate.core.term == 0)
        #expect(
            ready.messages.map(\.body) == [.preVote(lastIndex: 0, lastTerm: 0), .preVote(lastIndex: 0, lastTerm: 0)]
        )
        #expect(ready.messages.allSatisfy { $0.term == 1 })

        var voter = TestNode(id: 2)
        #expect(voter.handle(ready.messages[0]) == [msg(2, 1, 1, .preVoteResponse(granted: true))])
        #expect(voter.core.term == 0)
        #expect(voter.core.vote == 0)
    }

    /// Thesis §9.6: winning the pre-vote starts the real election in term+1.
    @Test func preCandidateBecomesCandidateAfterQuorumOfPreVotes() {
        var node = TestNode(id: 1)
        node.core.campaign()
        _ = node.drain()
        node.core.step(msg(2, 1, 1, .preVoteResponse(granted: true)))
        let ready = node.persist()
        #expect(node.core.roleKind == .candidate)
        #expect(node.core.term == 1)
        #expect(
            ready.messages.map(\.body).allSatisfy {
                $0 == .requestVote(lastIndex: 0, lastTerm: 0, leadershipTransfer: false)
            }
        )
    }

    /// A candidate counts its own vote only once its term and vote are durable (otherwise a crash could let it
    /// vote again in the same term after leading it).
    @Test func candidateCountsOwnVoteOnlyWhenDurable() {
        var config = RaftConfig()
        config.preVote = false
        var node = TestNode(id: 1, voters: [1, 2, 3], config: config)
        node.core.campaign()
        let ready = node.core.ready()  // term 1, vote 1: not yet durable
        node.core.step(msg(2, 1, 1, .requestVoteResponse(granted: true)))
        #expect(node.core.roleKind == .candidate, "one granted vote without our own is no quorum")
        try! node.storage.setHardState(ready.hardState!)
        node.core.advance(ready)
        #expect(node.core.roleKind == .leader)
    }

    /// Thesis §6.2: a follower that heard from its leader within the election timeout ignores vote requests,
    /// so a node returning from a partition with a high term cannot depose a working leader.
    @Test func followerInLeaderLeaseIgnoresVoteRequests() {
        var node = TestNode(id: 2)
        _ = node.handle(msg(1, 2, 1, .heartbeat(commit: 0)))
        #expect(node.handle(msg(3, 2, 5, .requestVote(lastIndex: 9, lastTerm: 4, leadershipTransfer: false))).isEmpty)
        #expect(node.core.term == 1)
        // A leadership transfer is allowed through the lease.
        #expect(
            node.handle(msg(3, 2, 5, .requestVote(lastIndex: 9, lastTerm: 4, leadershipTransfer: true)))
                == [msg(2, 3, 5, .requestVoteResponse(granted: true))]
        )
    }

    /// When the driver knows the leader is gone (its connection was reset), forgetting it drops the lease,
    /// so a pre-vote is granted at once instead of after the election timeout.
    @Test func forgetLeaderGrantsPreVoteAtOnce() {
        var node = TestNode(id: 2)
        _ = node.handle(msg(1, 2, 1, .heartbeat(commit: 0)))
        #expect(node.handle(msg(3, 2, 2, .preVote(lastIndex: 0, lastTerm: 0))).isEmpty)
        node.core.forgetLeader()
        #expect(
            node.handle(msg(3, 2, 2, .preVote(lastIndex: 0, lastTerm: 0))) == [
                msg(2, 3, 2, .preVoteResponse(granted: true))
            ]
        )
    }

    /// Check-quorum: a leader that hears from no quorum for one election timeout steps down.
    @Test func leaderStepsDownWithinOneElectionTimeoutWithoutQuorum() {
        var node = TestNode(id: 1)
        node.becomeLeader()
        var ticks = 0
        while node.core.isLeader && ticks < 100 {
            node.core.tick()
            _ = node.drain()
            ticks += 1
        }
        #expect(!node.core.isLeader)
        #expect(ticks <= node.core.config.electionTimeoutTicks)
    }

    /// A leader that keeps hearing from a quorum stays leader.
    @Test func leaderWithQuorumStaysLeader() {
        var node = TestNode(id: 1)
        node.becomeLeader()
        for _ in 0..<50 {
            node.core.tick()
            _ = node.drain()
            node.core.step(msg(2, 1, node.core.term, .heartbeatResponse))
        }
        #expect(node.core.isLeader)
    }

    /// A message from a stale term is answered with our term, so the stale leader steps down (Raft §5.1).
    @Test func followerAnswersStaleLeaderWithItsTerm() {
        var node = TestNode(id: 2)
        _ = node.handle(msg(3, 2, 5, .heartbeat(commit: 0)))
        #expect(
            node.handle(msg(1, 2, 2, .append(AppendRequest(prevIndex: 0, prevTerm: 0, entries: [], commit: 0)))) == [
                msg(2, 1, 5, .heartbeatResponse)
            ]
        )
    }

    /// Raft §5.2: randomized timeouts, from the injected seed: the same seed gives the same election.
    @Test func electionTimeoutIsRandomizedBySeedAndReproducible() {
        func ticksToCampaign(seed: UInt64) -> Int {
            let storage = MemoryLog(conf: ConfState(voters: [1, 2, 3]))
            var core = try! RaftCore(id: 1, config: RaftConfig(), storage: storage, randomSeed: seed)
            var ticks = 0
            while core.roleKind == .follower {
                core.tick()
                ticks += 1
            }
            return ticks
        }
        let config = RaftConfig()
        let samples = (1...40).map { ticksToCampaign(seed: $0) }
        #expect(samples.allSatisfy { $0 >= config.electionTimeoutTicks && $0 < 2 * config.electionTimeoutTicks })
        #expect(Set(samples).count > 1)
        #expect(ticksToCampaign(seed: 7) == ticksToCampaign(seed: 7))
    }

    /// Learners receive the log but never campaign.
    @Test func learnerNeverCampaigns() {
        var node = TestNode(id: 4, voters: [1, 2, 3], learners: [4])
        for _ in 0..<100 { node.core.tick() }
        node.core.campaign()
        #expect(node.core.roleKind == .follower)
        #expect(node.drain().isEmpty)
    }
}
