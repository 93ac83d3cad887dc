/// A read-only picture of one core, for tests, the simulator and `ferry cluster status`.
public struct RaftStatus: Sendable, Hashable {
    public struct Follower: Sendable, Hashable {
        public var match: LogIndex
        public var next: LogIndex
        public var state: String
        public var inflightMessages: Int
        /// The follower said it repairs after storage damage (`RaftCore.repairing`): not counted toward commit.
        public var repairing = false
    }

    public var id: NodeID
    public var term: Term
    public var vote: NodeID
    public var role: RaftRoleKind
    public var leader: NodeID?
    public var firstIndex: LogIndex
    public var lastIndex: LogIndex
    public var commit: LogIndex
    public var applied: LogIndex
    /// Only on a leader: one per member, this node included.
    public var progress: [NodeID: Follower]
    /// Repairing after storage damage (`RaftCore.repairing`), and the term through which it abstains.
    public var repairing = false
    public var abstainThroughTerm: Term = 0
}

extension RaftCore {
    /// On a leader, the members that said they repair after storage damage (not counted toward commit).
    public var repairingFollowers: [NodeID] {
        guard case .leader(let leader) = role else { return [] }
        return leader.progress.filter { $0.value.repairing }.map(\.key).sorted()
    }

    public var status: RaftStatus {
        var progress: [NodeID: RaftStatus.Follower] = [:]
        if case .leader(let leader) = role {
            for (member, pr) in leader.progress {
                let state: String
                switch pr.state {
                case .probe: state = "probe"
                case .replicate: state = "replicate"
                case .snapshot(let index): state = "snapshot@\(index)"
                }
                progress[member] = .init(
                    match: pr.match,
                    next: pr.next,
                    state: state,
                    inflightMessages: pr.inflights.count,
                    repairing: pr.repairing
                )
            }
        }
        return RaftStatus(
            id: id,
            term: term,
            vote: vote,
            role: roleKind,
            leader: leaderHint,
            firstIndex: log.firstIndex,
            lastIndex: log.lastIndex,
            commit: log.committed,
            applied: log.applied,
            progress: progress,
            repairing: repairing,
            abstainThroughTerm: abstainThroughTerm
        )
    }

    /// The expensive self-checks (STYLE #6): O(unstable entries + members). The simulator calls this after
    /// every event; an empty result means every invariant holds.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        func check(_ ok: Bool, _ what: @autoclosure () -> String) {
            if !ok { problems.append("node \(id): \(what())") }
        }
        check(log.applied <= log.applying, "applied \(log.applied) > applying \(log.applying)")
        check(log.applying <= log.committed, "applying \(log.applying) > committed \(log.committed)")
        check(log.committed <= log.lastIndex, "committed \(log.committed) > last \(log.lastIndex)")
        check(log.firstIndex >= 1, "first index 0")
        let unstable = log.unstable
        check(
            unstable.offset <= unstable.offsetInProgress
                && unstable.offsetInProgress <= unstable.offset + LogIndex(unstable.entries.count),
            "unstable in-progress offset \(unstable.offsetInProgress) outside [\(unstable.offset), end]"
        )
        if let snapshot = unstable.snapshot {
            check(unstable.offset == snapshot.metadata.index + 1, "unstable offset does not follow its snapshot")
        }
        var previousTerm = (try? log.termIfPresent(at: unstable.offset - 1)) ?? nil
        for (position, entry) in unstable.entries.enumerated() {
            check(entry.index == unstable.offset + LogIndex(position), "unstable entries not contiguous")
            if let previous = previousTerm { check(entry.term >= previous, "log terms decrease at \(entry.index)") }
            check(entry.term <= term, "entry \(entry.index) has term \(entry.term) above current \(term)")
            previousTerm = entry.term
        }
        switch role {
        case .leader(let leader):
            check(vote == id, "leader did not vote for itself")
            for member in conf.members {
                guard let pr = leader.progress[member] else {
                    problems.append("node \(id): leader has no progress for \(member)")
                    continue
                }
                check(pr.match < pr.next, "progress of \(member): match \(pr.match) >= next \(pr.next)")
                check(pr.next <= log.lastIndex + 1, "progress of \(member): next \(pr.next) beyond last")
            }
            for member in leader.progress.keys where !conf.members.contains(member) {
                problems.append("node \(id): leader keeps progress for non-member \(member)")
            }
            for (member, pr) in leader.progress {
                check(pr.isLearner == !conf.voters.contains(member), "progress of \(member) has the wrong role")
            }
            if let target = leader.transferTarget { check(conf.voters.contains(target), "transfer to non-voter") }
            check(leader.uncommittedBytes >= 0, "negative uncommitted bytes")
        case .candidate:
            check(vote == id, "candidate did not vote for itself")
        case .follower, .preCandidate:
            break
        case .transitioning:
            problems.append("node \(id): leader state not put back")
        }
        return problems
    }

    /// Crashes on a broken invariant: for debug builds and tests.
    public func checkInvariants() {
        let problems = invariantViolations()
        precondition(problems.isEmpty, problems.joined(separator: "; "))
    }
}
