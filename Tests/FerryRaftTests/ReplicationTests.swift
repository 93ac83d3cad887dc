import FerryRaft
import NIOCore
import Testing

/// Raft §5.3 (log replication), §5.4.2 (commit rule), and the ready contract's persistence rules.
@Suite struct ReplicationTests {
    /// Raft §5.3: a follower rejects an append whose previous entry it does not hold, and hints where to retry.
    @Test func followerRejectsAppendWithoutMatchingPrevious() {
        var node = TestNode(id: 2, storage: storage(terms: [1, 1, 2, 2]))
        let reply = node.handle(msg(1, 2, 3, .append(AppendRequest(prevIndex: 4, prevTerm: 3, entries: [], commit: 0))))
        // Our entries 3 and 4 have term 2 <= 3: the leader may find a match at index 4 with term 2.
        #expect(
            reply == [msg(2, 1, 3, .appendResponse(AppendResponse(index: 4, reject: true, hintIndex: 4, hintTerm: 2)))]
        )
    }

    /// Raft §5.3: a conflicting suffix is deleted and replaced by the leader's entries.
    @Test func followerTruncatesConflictingSuffix() throws {
        var node = TestNode(id: 2, storage: storage(terms: [1, 1, 2, 2]))
        let reply = node.handle(
            msg(1, 2, 3, .append(AppendRequest(prevIndex: 2, prevTerm: 1, entries: [entry(3, 3, "x")], commit: 3)))
        )
        #expect(reply == [msg(2, 1, 3, .appendResponse(AppendResponse(index: 3)))])
        #expect(node.storage.lastIndex == 3)
        #expect(try node.storage.term(at: 3) == 3)
        #expect(node.core.commitIndex == 3)
    }

    /// Followers acknowledge only durable entries: the acknowledgement waits for the ready's writes.
    @Test func followerAcknowledgesOnlyAfterPersisting() {
        var node = TestNode(id: 2)
        node.core.step(
            msg(1, 2, 1, .append(AppendRequest(prevIndex: 0, prevTerm: 0, entries: [entry(1, 1, "a")], commit: 0)))
        )
        let ready = node.core.ready()
        #expect(ready.entries == [entry(1, 1, "a")])
        #expect(ready.messages.isEmpty)
        #expect(ready.messagesAfterPersist == [msg(2, 1, 1, .appendResponse(AppendResponse(index: 1)))])
        #expect(ready.mustSync)
    }

    /// The leader sends entries before its own copy is durable, but counts itself only once it is.
    @Test func leaderSendsBeforeOwnFsyncAndCountsItselfWhenDurable() throws {
        var node = TestNode(id: 1)
        node.becomeLeader()
        for follower: NodeID in [2, 3] {
            node.core.step(msg(follower, 1, node.core.term, .appendResponse(AppendResponse(index: 1))))
        }
        _ = node.drain()
        let ticket = try node.core.propose([bytes("x")])
        let ready = node.core.ready()
        #expect(ready.entries.map(\.index) == [ticket.lastIndex])
        #expect(ready.messages.filter { if case .append = $0.body { return true } else { return false } }.count == 2)
        // One follower acknowledges: with our copy not yet durable that is 1 of 3, no commit.
        node.core.step(msg(2, 1, node.core.term, .appendResponse(AppendResponse(index: ticket.lastIndex))))
        #expect(node.core.commitIndex < ticket.lastIndex)
        try node.storage.append(ready.entries)
        node.core.advance(ready)
        #expect(node.core.commitIndex == ticket.lastIndex)
    }

    /// Raft §5.4.2 (Figure 8): an entry of an earlier term is not committed by counting replicas; it commits
    /// only together with an entry of the leader's own term.
    @Test func leaderCommitsEarlierTermEntriesOnlyThroughItsOwnTerm() throws {
        // Node 1 holds entry 2 from term 2, never committed, and becomes leader of term 4 (votes granted).
        let log = storage(terms: [1, 2])
        try log.setHardState(HardState(term: 3, vote: 0, commit: 1))
        var node = TestNode(id: 1, storage: log)
        node.becomeLeader()
        let term = node.core.term
        #expect(term == 4)
        // Its noop of term 4 sits at index 3. A follower acknowledges up to 2 only: a majority holds entry 2.
        node.core.step(msg(2, 1, term, .appendResponse(AppendResponse(index: 2))))
        _ = node.drain()
        #expect(node.core.commitIndex == 1, "entry 2 (term 2) must not commit by counting")
        node.core.step(msg(2, 1, term, .appendResponse(AppendResponse(index: 3))))
        _ = node.drain()
        #expect(node.core.commitIndex == 3)
    }

    /// A proposal at a non-leader fails at once, naming the leader.
    @Test func proposalAtFollowerFailsWithLeaderHint() {
        var node = TestNode(id: 2)
        _ = node.handle(msg(3, 2, 1, .heartbeat(commit: 0)))
        #expect(throws: ProposalError.notLeader(leaderHint: 3)) { try node.core.propose([bytes("x")]) }
    }

    /// Batching: one append carries entries up to `maxAppendBytes` (but always at least one entry).
    @Test func appendBatchesRespectMaxAppendBytes() throws {
        var config = RaftConfig()
        config.maxAppendBytes = 2 * (Entry.headerBytes + 10)
        var node = TestNode(id: 1, config: config)
        node.becomeLeader()
        let term = node.core.term
        node.core.step(msg(2, 1, term, .appendResponse(AppendResponse(index: 1))))
        _ = node.drain()
        _ = try node.core.propose((0..<5).map { _ in bytes(String(repeating: "a", count: 10)) })
        let appends = node.drain().filter { $0.to == 2 }.compactMap { message -> [Entry]? in
            if case .append(let request) = message.body { return request.entries }
            return nil
        }
        #expect(appends.map(\.count) == [2, 2, 1])
    }

    /// Pipelining: in the replicate state at most `maxInflightMessages` appends are outstanding.
    @Test func pipelineStopsAtInflightLimit() throws {
        var config = RaftConfig()
        config.maxInflightMessages = 2
        config.maxAppendBytes = 1
        var node = TestNode(id: 1, config: config)
        node.becomeLeader()
        let term = node.core.term
        node.core.step(msg(2, 1, term, .appendResponse(AppendResponse(index: 1))))
        _ = node.drain()
        for n in 0..<5 { _ = try node.core.propose([bytes("p\(n)")]) }
        let toTwo = node.drain().filter { $0.to == 2 }
        #expect(toTwo.count == 2)
        // An acknowledgement frees a slot and the next append goes out.
        node.core.step(msg(2, 1, term, .appendResponse(AppendResponse(index: 2))))
        #expect(node.drain().filter { $0.to == 2 }.count == 1)
    }

    /// Back-pressure: a leader refuses proposals while too many bytes are uncommitted.
    @Test func leaderRefusesProposalsAboveUncommittedLimit() throws {
        var config = RaftConfig()
        config.maxUncommittedBytes = 150  // the leader's own empty entry (24 bytes) is uncommitted too
        var node = TestNode(id: 1, config: config)
        node.becomeLeader()
        _ = try node.core.propose([bytes(String(repeating: "a", count: 60))])
        #expect(throws: ProposalError.self) { try node.core.propose([bytes(String(repeating: "b", count: 60))]) }
    }

    /// Fast backtracking: after a rejection the leader skips every index of a conflicting term at once.
    @Test func leaderSkipsConflictingTermOnRejection() throws {
        // Leader log: terms 1 1 1 4 4 5 5 (index 1…7) + noop of term 6 at 8.
        let log = storage(terms: [1, 1, 1, 4, 4, 5, 5])
        try log.setHardState(HardState(term: 5, vote: 0, commit: 3))
        var node = TestNode(id: 1, storage: log)
        node.becomeLeader()
        let term = node.core.term
        // Follower 2 holds 1 1 1 2 2 2 2 2 2: it rejects prev (7, 5) with hint (7, 2).
        node.core.step(
            msg(2, 1, term, .appendResponse(AppendResponse(index: 7, reject: true, hintIndex: 7, hintTerm: 2)))
        )
        let next = node.drain().filter { $0.to == 2 }.compactMap { message -> LogIndex? in
            if case .append(let request) = message.body { return request.prevIndex }
            return nil
        }
        // Our largest index with term <= 2 is 3: the next probe is at prev 3, not 6.
        #expect(next == [3])
    }
}
