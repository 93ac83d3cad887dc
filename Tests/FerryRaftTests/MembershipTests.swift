import FerryRaft
import NIOCore
import Testing

/// Cores that pass their messages to each other synchronously, persisting every ready at once.
struct TestCluster {
    var nodes: [NodeID: TestNode] = [:]
    /// Nodes whose messages (both ways) are dropped.
    var down: Set<NodeID> = []

    init(voters: [NodeID], learners: [NodeID] = [], config: RaftConfig = RaftConfig()) {
        for id in voters + learners {
            nodes[id] = TestNode(id: id, voters: voters, learners: learners, config: config)
        }
    }

    /// Adds a node with an empty log and no membership: a machine that joins.
    mutating func addEmptyNode(_ id: NodeID, config: RaftConfig = RaftConfig()) {
        nodes[id] = TestNode(id: id, storage: MemoryLog(conf: ConfState(voters: [])), config: config)
    }

    /// Delivers messages until none is left.
    mutating func stabilize(_ initial: [RaftMessage] = []) {
        var queue = initial
        for id in nodes.keys.sorted() { queue += nodes[id]!.drain() }
        var rounds = 0
        while !queue.isEmpty && rounds < 10_000 {
            rounds += 1
            let message = queue.removeFirst()
            guard nodes[message.to] != nil, !down.contains(message.to), !down.contains(message.from) else { continue }
            queue += nodes[message.to]!.handle(message)
        }
    }

    mutating func elect(_ id: NodeID) {
        nodes[id]!.core.campaign()
        stabilize()
        precondition(nodes[id]!.core.isLeader, "node \(id) did not become leader")
    }

    mutating func propose(_ id: NodeID, _ text: String) {
        _ = try! nodes[id]!.core.propose([bytes(text)])
        stabilize()
    }

    mutating func change(_ id: NodeID, _ change: MembershipChange) throws(MembershipChangeError) {
        _ = try nodes[id]!.core.proposeMembershipChange(change)
        stabilize()
    }

    func membership(_ id: NodeID) -> ConfState { nodes[id]!.core.membership }
}

/// Membership change, one server at a time (Raft dissertation §4).
@Suite struct MembershipTests {
    /// §4.1 (Ferry applies a change when it commits, as etcd-io/raft does): a proposed change is not in effect
    /// until it is committed; then every member, the new learner included, uses it.
    @Test func changeTakesEffectWhenCommitted() throws {
        var cluster = TestCluster(voters: [1, 2, 3])
        cluster.elect(1)
        cluster.addEmptyNode(4)
        _ = try cluster.nodes[1]!.core.proposeMembershipChange(.addLearner(4))
        #expect(cluster.membership(1) == ConfState(voters: [1, 2, 3]))
        cluster.stabilize()
        for id: NodeID in [1, 2, 3, 4] {
            #expect(cluster.membership(id) == ConfState(voters: [1, 2, 3], learners: [4]), "node \(id)")
        }
        cluster.propose(1, "after")
        #expect(cluster.nodes[4]!.core.commitIndex == cluster.nodes[1]!.core.commitIndex)
        #expect(cluster.nodes[1]!.core.status.progress[4] != nil)
    }

    /// §4.1: only one change at a time; the next waits until the previous one is in effect.
    @Test func secondChangeIsRefusedWhileOneIsPending() throws {
        var cluster = TestCluster(voters: [1, 2, 3])
        cluster.elect(1)
        let ticket = try cluster.nodes[1]!.core.proposeMembershipChange(.addLearner(4))
        #expect(throws: MembershipChangeError.changeInProgress(pendingIndex: ticket.firstIndex)) {
            _ = try cluster.nodes[1]!.core.proposeMembershipChange(.addLearner(5))
        }
        cluster.stabilize()
        try cluster.change(1, .addLearner(5))
        #expect(cluster.membership(1).learners == [4, 5])
    }

    /// §4.1 and its 2015 correction (Ongaro, raft-dev): a new leader proposes no change before an entry of its
    /// own term is committed, so a change left uncommitted by an earlier leader cannot take effect beside it.
    @Test func newLeaderCommitsOwnEntryBeforeAnyChange() throws {
        var leader = TestNode(id: 1)
        leader.becomeLeaderWithoutCommitting()
        #expect(leader.core.isLeader)
        #expect(leader.core.commitIndex == 0)
        #expect(throws: MembershipChangeError.changeInProgress(pendingIndex: 1)) {
            _ = try leader.core.proposeMembershipChange(.addLearner(4))
        }
    }

    /// §4.2.1: a learner does not count for commit. With two of three voters silent, the leader and a learner
    /// hold an entry, and it stays uncommitted.
    @Test func learnerNeverCountsForCommit() {
        var cluster = TestCluster(voters: [1, 2, 3], learners: [4])
        cluster.elect(1)
        let committed = cluster.nodes[1]!.core.commitIndex
        cluster.down = [2, 3]
        cluster.propose(1, "x")
        #expect(cluster.nodes[4]!.core.lastIndex == cluster.nodes[1]!.core.lastIndex)
        #expect(cluster.nodes[1]!.core.commitIndex == committed)
        cluster.down = []
        cluster.nodes[1]!.core.tick()
        cluster.stabilize()
        #expect(cluster.nodes[1]!.core.commitIndex == committed + 1)
    }

    /// §4.2.1: a learner that is far behind is not promoted (it would stall commits while it catches up); once
    /// caught up it is, and then it counts.
    @Test func promotionWaitsForTheLearnerToCatchUp() throws {
        var config = RaftConfig()
        config.maxPromotionLagEntries = 2
        var cluster = TestCluster(voters: [1, 2, 3], config: config)
        cluster.elect(1)
        cluster.addEmptyNode(4, config: config)
        cluster.down = [4]
        try cluster.change(1, .addLearner(4))
        for n in 0..<5 { cluster.propose(1, "m\(n)") }
        let committed = cluster.nodes[1]!.core.commitIndex
        #expect(throws: MembershipChangeError.learnerBehind(4, match: 0, committed: committed)) {
            _ = try cluster.nodes[1]!.core.proposeMembershipChange(.promote(4))
        }
        cluster.down = []
        cluster.nodes[1]!.core.tick()
        cluster.stabilize()
        try cluster.change(1, .promote(4))
        #expect(cluster.membership(4) == ConfState(voters: [1, 2, 3, 4]))
        // Four voters: three must hold an entry. With 3 and 4 silent, nothing commits.
        cluster.down = [3, 4]
        let before = cluster.nodes[1]!.core.commitIndex
        cluster.propose(1, "needs three")
        #expect(cluster.nodes[1]!.core.commitIndex == before)
    }

    /// §4.2.2: a leader that removes itself leads until the removal commits, then steps down and never
    /// campaigns again; the others elect a leader among themselves.
    @Test func removedLeaderStepsDownAfterCommitAndNeverCampaigns() throws {
        var cluster = TestCluster(voters: [1, 2, 3])
        cluster.elect(1)
        _ = try cluster.nodes[1]!.core.proposeMembershipChange(.remove(1))
        #expect(cluster.nodes[1]!.core.isLeader)
        cluster.stabilize()
        #expect(!cluster.nodes[1]!.core.isLeader)
        #expect(cluster.membership(2) == ConfState(voters: [2, 3]))
        // Node 1 told the voter whose log matched its own to campaign at once (TimeoutNow): no election timeout.
        #expect(cluster.nodes[2]!.core.isLeader || cluster.nodes[3]!.core.isLeader)
        for _ in 0..<100 { cluster.nodes[1]!.core.tick() }
        cluster.nodes[1]!.core.campaign()
        #expect(cluster.nodes[1]!.core.roleKind == .follower)
        for _ in 0..<100 where !cluster.nodes[2]!.core.isLeader && !cluster.nodes[3]!.core.isLeader {
            cluster.nodes[2]!.core.tick()
            cluster.nodes[3]!.core.tick()
            cluster.stabilize()
        }
        let leader: NodeID = cluster.nodes[2]!.core.isLeader ? 2 : 3
        #expect(cluster.nodes[leader]!.core.isLeader)
        cluster.propose(leader, "without 1")
        #expect(cluster.nodes[3]!.core.commitIndex == cluster.nodes[2]!.core.commitIndex)
        #expect(!cluster.nodes[1]!.core.isLeader)
    }

    /// §4.2.3: a removed node that never learned of its removal times out and campaigns; pre-vote and the
    /// leader lease keep it from disrupting the group (the others' term does not move).
    @Test func removedNodeThatKeepsTalkingCannotDisrupt() throws {
        var cluster = TestCluster(voters: [1, 2, 3])
        cluster.elect(1)
        cluster.down = [3]
        try cluster.change(1, .remove(3))
        cluster.down = []
        let term = cluster.nodes[1]!.core.term
        for _ in 0..<40 { cluster.nodes[3]!.core.tick() }
        cluster.stabilize()
        #expect(cluster.nodes[1]!.core.isLeader)
        #expect(cluster.nodes[1]!.core.term == term)
        #expect(cluster.nodes[2]!.core.term == term)
    }

    /// Removing the last voter, adding a member twice, promoting a voter and removing a stranger are refused
    /// with their reason, and change nothing.
    @Test func invalidChangesAreRefusedAndChangeNothing() throws {
        var cluster = TestCluster(voters: [1])
        cluster.elect(1)
        let last = cluster.nodes[1]!.core.lastIndex
        #expect(throws: MembershipChangeError.tooFewVoters(1, remaining: 0)) {
            _ = try cluster.nodes[1]!.core.proposeMembershipChange(.remove(1))
        }
        #expect(throws: MembershipChangeError.alreadyMember(1)) {
            _ = try cluster.nodes[1]!.core.proposeMembershipChange(.addLearner(1))
        }
        #expect(throws: MembershipChangeError.notALearner(1)) {
            _ = try cluster.nodes[1]!.core.proposeMembershipChange(.promote(1))
        }
        #expect(throws: MembershipChangeError.notAMember(7)) {
            _ = try cluster.nodes[1]!.core.proposeMembershipChange(.remove(7))
        }
        #expect(throws: MembershipChangeError.invalidNode) {
            _ = try cluster.nodes[1]!.core.proposeMembershipChange(.addLearner(0))
        }
        #expect(throws: MembershipChangeError.notLeader(leaderHint: 1)) {
            var follower = TestNode(id: 2, voters: [1, 2])
            _ = follower.handle(msg(1, 2, 1, .heartbeat(commit: 0)))
            _ = try follower.core.proposeMembershipChange(.addLearner(3))
        }
        #expect(cluster.nodes[1]!.core.lastIndex == last)
        #expect(cluster.membership(1) == ConfState(voters: [1]))
        var pair = TestCluster(voters: [1, 2])
        pair.elect(1)
        #expect(throws: MembershipChangeError.tooFewVoters(2, remaining: 1)) {
            _ = try pair.nodes[1]!.core.proposeMembershipChange(.remove(2))
        }
    }

    /// A node whose log holds a committed change it has not yet handed out does not campaign: the change may
    /// have removed it (etcd-io/raft's `hasUnappliedConfChanges`).
    @Test func nodeWithUnappliedChangeDoesNotCampaign() {
        let log = MemoryLog(conf: ConfState(voters: [1, 2, 3]))
        let change = Entry(
            index: 1,
            term: 1,
            kind: .config,
            payload: ConfState(voters: [2, 3]).encodedEntryPayload()
        )
        try! log.append([change])
        try! log.setHardState(HardState(term: 1, vote: 0, commit: 1))
        var node = TestNode(id: 1, storage: log)
        node.core.campaign()
        #expect(node.core.roleKind == .follower)
        _ = node.drain()
        #expect(node.core.membership == ConfState(voters: [2, 3]))
        node.core.campaign()
        #expect(node.core.roleKind == .follower)
    }

    /// The membership a snapshot at the applied index must carry, while a later change is already in effect.
    @Test func membershipAtAnIndexForSnapshots() throws {
        var cluster = TestCluster(voters: [1, 2, 3])
        cluster.elect(1)
        let before = cluster.nodes[1]!.core.appliedIndex
        try cluster.change(1, .addLearner(4))
        #expect(cluster.nodes[1]!.core.membership(at: before) == ConfState(voters: [1, 2, 3]))
        #expect(
            cluster.nodes[1]!.core.membership(at: cluster.nodes[1]!.core.appliedIndex)
                == ConfState(voters: [1, 2, 3], learners: [4])
        )
    }

    /// A config entry's payload round-trips; a damaged one is not taken for a membership.
    @Test func configPayloadRoundTripsAndRejectsDamage() {
        let conf = ConfState(voters: [1, 2, 3], learners: [9])
        #expect(ConfState(entryPayload: conf.encodedEntryPayload()) == conf)
        var truncated = conf.encodedEntryPayload()
        truncated.moveWriterIndex(to: truncated.writerIndex - 1)
        #expect(ConfState(entryPayload: truncated) == nil)
        var versioned = ByteBuffer()
        versioned.writeInteger(UInt8(2))
        #expect(ConfState(entryPayload: versioned) == nil)
        #expect(ConfState(entryPayload: ConfState(voters: []).encodedEntryPayload()) == nil)
    }
}

/// The steps a leader takes toward the voters a group should have.
@Suite struct MembershipPlanTests {
    static func step(
        _ current: ConfState,
        _ wanted: [NodeID],
        leader: NodeID = 1,
        caughtUp: Bool = true
    )
        -> MembershipStep
    {
        MembershipPlan.next(current: current, wanted: wanted, leader: leader) { _ in caughtUp }
    }

    /// §4.2.1: a replica moves by adding the new node as a learner, promoting it once caught up, and only then
    /// removing the old one, so the group never has fewer voters than it should.
    @Test func aReplicaMovesLearnerFirstAndLeavesLast() {
        var conf = ConfState(voters: [1, 2, 3])
        let wanted: [NodeID] = [1, 2, 4]
        #expect(Self.step(conf, wanted) == .change(.addLearner(4)))
        conf = ConfState(voters: [1, 2, 3], learners: [4])
        #expect(Self.step(conf, wanted, caughtUp: false) == .waitForCatchUp(4))
        #expect(Self.step(conf, wanted) == .change(.promote(4)))
        conf = ConfState(voters: [1, 2, 3, 4])
        #expect(Self.step(conf, wanted) == .change(.remove(3)))
        #expect(Self.step(ConfState(voters: [1, 2, 4]), wanted) == .done)
    }

    /// §4.2.2: the leader leaves last, after handing leadership to a wanted voter.
    @Test func theLeaderHandsOverBeforeItLeaves() {
        let conf = ConfState(voters: [1, 2, 3, 4])
        #expect(Self.step(conf, [2, 3, 4], leader: 1) == .transferLeadership(to: 2))
        #expect(Self.step(conf, [2, 3, 4], leader: 2) == .change(.remove(1)))
    }

    @Test func unwantedLearnersLeaveAndTwoVotersStay() {
        #expect(Self.step(ConfState(voters: [1, 2, 3], learners: [5]), [1, 2, 3]) == .change(.remove(5)))
        #expect(Self.step(ConfState(voters: [1, 2]), [1]) == .done)
    }
}
