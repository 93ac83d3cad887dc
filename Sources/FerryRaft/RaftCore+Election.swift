import NIOCore

/// Term reconciliation, elections, pre-vote and role changes (Raft §5.1, §5.2, §5.4.1; thesis §9.6, §6.2).
extension RaftCore {
    /// The leader lease of check-quorum: a node that heard from a leader within the election timeout ignores
    /// requests to elect someone else (thesis §6.2, §4.2.3), so a rejoining node cannot disrupt a healthy leader.
    var inLeaderLease: Bool {
        config.checkQuorum && leaderHint != nil && electionElapsed < config.electionTimeoutTicks
    }

    mutating func stepMessage(_ m: RaftMessage) throws(RaftLogError) {
        if m.term > term {
            switch m.body {
            case .preVote, .requestVote(_, _, leadershipTransfer: false):
                if inLeaderLease { return }
            default:
                break
            }
            switch m.body {
            case .preVote:
                break  // a pre-vote never changes our term
            case .preVoteResponse(granted: true):
                break  // carries the term the pre-candidate would campaign in; handled below
            case .append, .heartbeat, .snapshotChunk:
                becomeFollower(term: m.term, leader: m.from)
            default:
                // Raft Figure 2: only a leader's message or a granted vote resets the election timer. Resetting
                // it on every higher-term request lets nodes with stale logs, campaigning again and again, keep
                // the up-to-date nodes from ever timing out (a livelock the simulator found, seed 1588).
                becomeFollower(term: m.term, leader: nil, resetElectionTimer: false)
            }
        } else if m.term < term {
            switch m.body {
            case .append, .heartbeat:
                // A stale leader (for example one that was partitioned) learns our term and steps down.
                // Without this, pre-vote or check-quorum could leave it leading forever in its old term.
                if config.checkQuorum || config.preVote { send(.heartbeatResponse, to: m.from) }
            case .preVote:
                send(.preVoteResponse(granted: false), to: m.from)
            case .requestVote:
                // Raft Figure 2: reply false with our term, so the candidate learns it. Dropping the request
                // instead livelocked a group without pre-vote whose other voter, behind and with a stale
                // membership, kept campaigning in higher terms the candidate never heard of (seed 9762).
                send(.requestVoteResponse(granted: false), to: m.from)
            default:
                break
            }
            return
        }

        switch m.body {
        case .preVote(let lastIndex, let lastTerm):
            try handleVoteRequest(from: m.from, term: m.term, lastIndex: lastIndex, lastTerm: lastTerm, pre: true)
            return
        case .requestVote(let lastIndex, let lastTerm, _):
            try handleVoteRequest(from: m.from, term: m.term, lastIndex: lastIndex, lastTerm: lastTerm, pre: false)
            return
        default:
            break
        }

        switch role {
        case .follower:
            try stepFollower(m)
        case .preCandidate, .candidate:
            try stepCandidate(m)
        case .leader:
            try stepLeader(m)
        case .transitioning:
            preconditionFailure("message while leader state is taken")
        }
    }

    /// Raft §5.2 and §5.4.1: grant at most one vote per term, and only to a candidate whose log is at least as
    /// up to date as ours. A pre-vote is granted on the same log test without recording anything.
    mutating func handleVoteRequest(
        from candidate: NodeID,
        term requestTerm: Term,
        lastIndex: LogIndex,
        lastTerm: Term,
        pre: Bool
    ) throws(RaftLogError) {
        // A repairing replica votes for no one: its log may lack entries it acknowledged, and its vote record
        // may be gone (`repairing`, `abstainThroughTerm`).
        if repairing || requestTerm <= abstainThroughTerm {
            if pre {
                send(.preVoteResponse(granted: false), to: candidate)
            } else {
                sendAfterPersist(.requestVoteResponse(granted: false), to: candidate)
            }
            return
        }
        let canVote =
            vote == candidate
            || (vote == 0 && leaderHint == nil)
            || (pre && requestTerm > term)
        if canVote, try log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm) {
            if pre {
                // Answer in the term asked about, so the pre-candidate counts it.
                send(.preVoteResponse(granted: true), to: candidate, term: requestTerm)
            } else {
                electionElapsed = 0
                vote = candidate
                // The vote must be durable before the candidate may count it.
                sendAfterPersist(.requestVoteResponse(granted: true), to: candidate)
            }
        } else if pre {
            send(.preVoteResponse(granted: false), to: candidate)
        } else {
            sendAfterPersist(.requestVoteResponse(granted: false), to: candidate)
        }
    }

    mutating func stepCandidate(_ m: RaftMessage) throws(RaftLogError) {
        switch m.body {
        case .append, .heartbeat, .snapshotChunk:
            // A leader exists in our term (Raft §5.2): return to follower and handle its message.
            becomeFollower(term: m.term, leader: m.from)
            try stepFollower(m)
        case .preVoteResponse(let granted):
            guard case .preCandidate(var tally) = role else { return }
            // Granted answers carry term+1; rejections carry the voter's term, which equals ours here.
            guard m.term == (granted ? term + 1 : term) else { return }
            tally.record(m.from, granted: granted)
            role = .preCandidate(tally)
            try checkCampaignOutcome()
        case .requestVoteResponse(let granted):
            guard case .candidate(var tally) = role, m.term == term else { return }
            tally.record(m.from, granted: granted)
            role = .candidate(tally)
            try checkCampaignOutcome()
        case .timeoutNow, .appendResponse, .heartbeatResponse, .snapshotChunkResponse, .preVote, .requestVote:
            break
        }
    }

    mutating func checkCampaignOutcome() throws(RaftLogError) {
        switch role {
        case .preCandidate(let tally):
            switch tally.outcome(voters: conf.voters) {
            case .won: try campaign(transfer: false, skipPreVote: true)
            case .lost: becomeFollower(term: term, leader: nil, resetElectionTimer: false)
            case .pending: break
            }
        case .candidate(let tally):
            switch tally.outcome(voters: conf.voters) {
            case .won: try becomeLeader()
            case .lost: becomeFollower(term: term, leader: nil, resetElectionTimer: false)
            case .pending: break
            }
        case .follower, .leader, .transitioning:
            break
        }
    }

    /// Starts a pre-vote, or an election when pre-vote is off, already won, or this is a leadership transfer.
    mutating func campaign(transfer: Bool, skipPreVote: Bool = false) throws(RaftLogError) {
        // A membership change committed but not yet in effect here could make this node a non-voter, or change
        // whose votes count: wait until it is handed out (etcd-io/raft's `hasUnappliedConfChanges`).
        guard isPromotable, try !hasUnappliedMembershipChanges() else { return }
        let lastIndex = log.lastIndex
        let lastTerm = try log.lastTerm
        if config.preVote && !transfer && !skipPreVote {
            becomePreCandidate()
            guard case .preCandidate(var tally) = role else { return }
            tally.record(id, granted: true)
            role = .preCandidate(tally)
            for voter in conf.voters where voter != id {
                send(.preVote(lastIndex: lastIndex, lastTerm: lastTerm), to: voter, term: term + 1)
            }
            try checkCampaignOutcome()
            return
        }
        becomeCandidate()
        for voter in conf.voters where voter != id {
            send(.requestVote(lastIndex: lastIndex, lastTerm: lastTerm, leadershipTransfer: transfer), to: voter)
        }
        // Our own vote counts once the new term and vote are durable: see `selfVoteBecameDurable`.
        selfVotePendingTerm = term
    }

    /// Called from `advance` when a hard state became durable: a candidate may now count its own vote.
    mutating func selfVoteBecameDurable(_ hardState: HardState) throws(RaftLogError) {
        guard let pending = selfVotePendingTerm, hardState.term == pending, hardState.vote == id,
            pending == term, case .candidate(var tally) = role
        else { return }
        selfVotePendingTerm = nil
        tally.record(id, granted: true)
        role = .candidate(tally)
        try checkCampaignOutcome()
    }

    mutating func becomeFollower(term newTerm: Term, leader: NodeID?, resetElectionTimer: Bool = true) {
        precondition(newTerm >= term, "term going back from \(term) to \(newTerm)")
        if newTerm > term {
            term = newTerm
            vote = 0
        }
        let wasLeader = isLeader
        role = .follower(leader: leader)
        selfVotePendingTerm = nil
        if resetElectionTimer || wasLeader {
            electionElapsed = 0
            resetRandomizedElectionTimeout()
        }
    }

    mutating func becomePreCandidate() {
        precondition(!isLeader, "leader cannot become pre-candidate")
        role = .preCandidate(VoteTally())
        electionElapsed = 0
        resetRandomizedElectionTimeout()
    }

    mutating func becomeCandidate() {
        precondition(!isLeader, "leader cannot become candidate")
        term += 1
        vote = id
        role = .candidate(VoteTally())
        electionElapsed = 0
        resetRandomizedElectionTimeout()
    }

    /// Raft §5.2: won the election. Append an empty entry of the new term, so that earlier terms' entries
    /// commit with it (§5.4.2, §8), and start replicating.
    mutating func becomeLeader() throws(RaftLogError) {
        guard case .candidate = role else { preconditionFailure("only a candidate becomes leader") }
        let lastIndex = log.lastIndex
        var progress: [NodeID: Progress] = [:]
        for member in conf.members {
            var pr = Progress(
                next: lastIndex + 1,
                inflights: Inflights(maxMessages: config.maxInflightMessages, maxBytes: config.maxInflightBytes),
                isLearner: conf.learners.contains(member),
                lastHeardTick: ticks
            )
            if member == id {
                // Our own durable index: entries handed out but not advanced are not durable yet.
                pr.match = min(log.unstable.offset - 1, lastIndex)
                pr.state = .replicate
            }
            progress[member] = pr
        }
        var leader = LeaderState(progress: progress)
        leader.pendingConfIndex = lastIndex + 1
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        electionElapsed = 0
        let noop = Entry(index: lastIndex + 1, term: term, kind: .noop, payload: .init())
        appendAsLeader([noop], leader: &leader)
        try broadcastAppend(leader: &leader)
    }
}
