import NIOCore

/// Membership change, one server at a time (Raft dissertation §4.1–§4.3), with the rules of etcd-io/raft:
///
/// - A change is a `config` entry carrying the whole new membership. It takes effect on a node when the entry
///   is committed and handed out in a ready (not when appended, as in the dissertation): a change that is
///   never committed needs no undoing, and a node never acts on a membership its group has not agreed to.
/// - One change at a time: a leader proposes the next change only once the previous one is in effect here, and
///   only once it has committed an entry of its own term (its first entry, the no-op). Without the second rule
///   a change left uncommitted by a previous leader and a new one can both take effect against different
///   majorities (Ongaro, raft-dev, 2015). Single-server changes keep every majority of the old membership
///   overlapping every majority of the new one, so two leaders can never be elected in one term (§4.1).
/// - Learners never count: not for commit, not for check-quorum, not in elections; they never campaign.
/// - A node with a committed but not yet handed-out change does not campaign: it may no longer be a voter.
/// - A leader that removes itself keeps leading until the removal commits, then steps down (§4.2.2) and tells
///   a voter whose log matches its own to campaign at once (TimeoutNow). A removed node never campaigns again,
///   and pre-vote plus the leader lease keep one that does not know it was removed from disrupting the group
///   (§4.2.3).
/// - No change leaves a single voter. Because a change takes effect on commit, a voter that has not yet
///   learned that a removal committed campaigns in the old membership; with two voters that needs the removed
///   node's vote, which it refuses as soon as its log is longer (it may have appended a no-op as a later
///   leader): the group deadlocks (membership seeds 144, 494, 735). With two or more voters left, the remaining
///   voters form a majority of the old membership by themselves. (etcd has the same hazard for two members.)
///
/// Joint consensus (§4.3) is not implemented: every operation Ferry needs (add, replace, move a replica,
/// shrink) is a sequence of single-server changes, which are simpler to get right and to test.
extension RaftCore {
    /// Proposes `change`. It takes effect when committed; `membership` shows it then.
    public mutating func proposeMembershipChange(
        _ change: MembershipChange
    ) throws(MembershipChangeError) -> ProposalTicket {
        if let failure = storageFailure { throw .stopped(failure) }
        guard case .leader(var leader) = role else { throw .notLeader(leaderHint: leaderHint) }
        if let target = leader.transferTarget { throw .leadershipTransferInProgress(target: target) }
        guard log.applying >= leader.pendingConfIndex else {
            throw .changeInProgress(pendingIndex: leader.pendingConfIndex)
        }
        let next = try conf.applying(change)
        if case .promote(let learner) = change {
            let match = leader.progress[learner]?.match ?? 0
            guard match + LogIndex(config.maxPromotionLagEntries) >= log.committed else {
                throw .learnerBehind(learner, match: match, committed: log.committed)
            }
        }
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        let entry = Entry(index: log.lastIndex + 1, term: term, kind: .config, payload: next.encodedEntryPayload())
        appendAsLeader([entry], leader: &leader)
        leader.pendingConfIndex = entry.index
        do {
            try broadcastAppend(leader: &leader, sendIfEmpty: false)
        } catch {
            fail(error)
        }
        return ProposalTicket(term: term, firstIndex: entry.index, lastIndex: entry.index)
    }

    /// The membership in effect at `index`, for a snapshot taken there. Exact for any index from the applied
    /// index on; below it, the oldest membership still remembered.
    public func membership(at index: LogIndex) -> ConfState {
        confHistory.last { $0.index <= index }?.conf ?? confHistory[0].conf
    }

    /// Puts the `config` entries among `committed` (being handed out now, in order) into effect.
    mutating func applyMembershipChanges(in committed: [Entry]) throws(RaftLogError) {
        for entry in committed where entry.kind == .config && entry.index > confIndex {
            guard let next = ConfState(entryPayload: entry.payload) else {
                throw .storage("config entry \(entry.index)/\(entry.term) does not decode")
            }
            conf = next
            confIndex = entry.index
            let applied = log.applied
            if let keep = confHistory.lastIndex(where: { $0.index <= applied }) { confHistory.removeFirst(keep) }
            confHistory.append((entry.index, next))
            try membershipChanged()
        }
    }

    /// The new membership is in effect: a leader tracks exactly its members, recounts its commit index with the
    /// new voters, and steps down when it is no longer a voter.
    mutating func membershipChanged() throws(RaftLogError) {
        guard case .leader(var leader) = role else {
            if case .candidate = role { try checkCampaignOutcome() }
            if case .preCandidate = role { try checkCampaignOutcome() }
            return
        }
        guard conf.voters.contains(id) else {
            // Hand over at once rather than after an election timeout: the voter whose log matches ours.
            let successor = conf.voters.filter { leader.progress[$0]?.match == log.lastIndex }.min()
            becomeFollower(term: term, leader: nil)
            if let successor { send(.timeoutNow, to: successor) }
            return
        }
        role = .transitioning
        defer { if case .transitioning = role { role = .leader(leader) } }
        for member in leader.progress.keys where !conf.members.contains(member) {
            leader.progress[member] = nil
        }
        for member in conf.members {
            if leader.progress[member] == nil {
                leader.progress[member] = Progress(
                    next: log.lastIndex + 1,
                    inflights: Inflights(maxMessages: config.maxInflightMessages, maxBytes: config.maxInflightBytes),
                    isLearner: true,
                    lastHeardTick: ticks
                )
            }
            leader.progress[member]?.isLearner = conf.learners.contains(member)
        }
        if let target = leader.transferTarget, !conf.voters.contains(target) { leader.transferTarget = nil }
        _ = try maybeCommit(leader: &leader)
        try broadcastAppend(leader: &leader)
    }

    /// True when an entry committed here but not yet handed out changes the membership.
    func hasUnappliedMembershipChanges() throws(RaftLogError) -> Bool {
        guard log.applying < log.committed else { return false }
        var low = max(log.applying + 1, log.firstIndex)
        let high = log.committed + 1
        while low < high {
            let entries = try log.entries(from: low, to: high, maxBytes: config.maxCommittedBytesPerReady)
            guard let last = entries.last else { return false }
            if entries.contains(where: { $0.kind == .config }) { return true }
            low = last.index + 1
        }
        return false
    }
}
