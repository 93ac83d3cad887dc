import FerryRaft
import NIOCore

/// A broken invariant: its name (stable, used by `Tests/mutants`) and what was seen.
public struct InvariantViolation: Error, Sendable, CustomStringConvertible {
    public var invariant: String
    public var detail: String

    public var description: String { "\(invariant): \(detail)" }
}

/// Raft's safety properties (Raft §5.2–§5.4, Figure 3), checked incrementally after every event.
///
/// Incremental, so that checking after every event stays cheap: each entry is checked when a node writes it,
/// each commit when a node's commit index passes it, each application when it happens.
struct SafetyChecker {
    struct EntryID: Hashable {
        var index: LogIndex
        var term: Term
    }

    struct EntryFacts: Hashable {
        var payloadHash: UInt64
        var kind: EntryKind
        var previousTerm: Term?
    }

    /// Committed memberships by index (the first at index 0), from the `config` entries nodes wrote.
    private(set) var committedConfigs: [(index: LogIndex, conf: ConfState)]
    /// The membership each `config` entry ever written carries.
    private var configWritten: [EntryID: ConfState] = [:]
    /// Election Safety: the one leader of each term.
    private(set) var leaderOfTerm: [Term: NodeID] = [:]
    /// Log Matching: what every (index, term) ever written holds, and the term of the entry before it.
    private var entryFacts: [EntryID: EntryFacts] = [:]
    /// The committed term at each index (dense; 0 = not yet observed), and the highest observed.
    private(set) var committedTerms: [Term] = [0]
    /// The lowest term in which each index was seen committed: the term of the leader that committed it
    /// (that leader sees its commit index move before anyone else does).
    private var commitTermAt: [Term] = [0]
    private(set) var highestCommitted: LogIndex = 0
    /// State Machine Safety: the state-machine hash after applying each index.
    private var stateHashAt: [LogIndex: UInt64] = [:]
    /// Per node: the highest durable hard state seen, and the latest vote it granted (after persisting).
    private var durableHardState: [NodeID: HardState] = [:]
    private var grantedVote: [NodeID: (term: Term, candidate: NodeID)] = [:]
    /// Per node: term and commit seen in its current life.
    private var liveTerm: [NodeID: (term: Term, vote: NodeID)] = [:]
    private var liveCommit: [NodeID: LogIndex] = [:]
    private var leaderTermSeen: [NodeID: Term] = [:]

    init(voters: [NodeID]) {
        committedConfigs = [(0, ConfState(voters: voters))]
    }

    /// The memberships some node may be using now: the latest committed one, and the one before it (a change
    /// takes effect on each node when it learns the commit). Their voters decide elections and commits.
    var votersInEffect: [[NodeID]] {
        committedConfigs.suffix(2).map(\.conf.voters)
    }

    func committedTerm(at index: LogIndex) -> Term? {
        guard index < committedTerms.count, committedTerms[Int(index)] != 0 else { return nil }
        return committedTerms[Int(index)]
    }

    private func violation(_ invariant: String, _ detail: String) -> InvariantViolation {
        InvariantViolation(invariant: invariant, detail: detail)
    }

    // MARK: Log Matching

    /// A node wrote `entries` (after `previousTerm` at the index before the first).
    mutating func nodeWrote(_ node: NodeID, entries: [Entry], previousTerm: Term?) throws(InvariantViolation) {
        var previous = previousTerm
        for entry in entries {
            let id = EntryID(index: entry.index, term: entry.term)
            let facts = EntryFacts(
                payloadHash: SimStateMachine.hash(entry.payload),
                kind: entry.kind,
                previousTerm: previous
            )
            if entry.kind == .config, let conf = ConfState(entryPayload: entry.payload) { configWritten[id] = conf }
            if let known = entryFacts[id] {
                let samePrevious =
                    known.previousTerm == nil || facts.previousTerm == nil || known.previousTerm == facts.previousTerm
                guard known.payloadHash == facts.payloadHash, known.kind == facts.kind, samePrevious else {
                    throw violation(
                        "logMatching",
                        "node \(node) wrote entry \(entry.index)/\(entry.term) unlike an earlier copy "
                            + "(previous term \(String(describing: facts.previousTerm)) vs "
                            + "\(String(describing: known.previousTerm)))"
                    )
                }
                if known.previousTerm == nil && facts.previousTerm != nil { entryFacts[id] = facts }
            } else {
                entryFacts[id] = facts
            }
            previous = entry.term
        }
    }

    // MARK: Election Safety, Leader Completeness

    /// Called after every event for each running node.
    mutating func observe(_ node: NodeID, core: RaftCore) throws(InvariantViolation) {
        let term = core.term
        if let seen = liveTerm[node] {
            guard term >= seen.term else {
                throw violation("termMonotonic", "node \(node) term went from \(seen.term) to \(term)")
            }
            if term == seen.term && seen.vote != 0 && core.vote != seen.vote {
                throw violation("voteMonotonic", "node \(node) changed its vote in term \(term)")
            }
        }
        liveTerm[node] = (term, core.vote)
        if core.isLeader {
            if let other = leaderOfTerm[term], other != node {
                throw violation("electionSafety", "nodes \(other) and \(node) both lead term \(term)")
            }
            leaderOfTerm[term] = node
            if leaderTermSeen[node] != term {
                leaderTermSeen[node] = term
                try checkLeaderCompleteness(node, core: core)
            }
        }
        try observeCommit(node, core: core)
    }

    /// Raft §5.4.1: a new leader holds every entry committed in an earlier term. (A candidate that was slow
    /// to count its votes may lead an old term and lack entries a later term committed: that is allowed, its
    /// appends are refused by every node of the later term.)
    private func checkLeaderCompleteness(_ node: NodeID, core: RaftCore) throws(InvariantViolation) {
        var index = highestCommitted
        while index > 0 && (commitTermAt[Int(index)] == 0 || commitTermAt[Int(index)] >= core.term) {
            index -= 1
        }
        guard index > 0, let committed = committedTerm(at: index) else { return }
        if index < core.firstIndex { return }  // covered by the leader's snapshot
        let held = core.term(at: index)
        guard held == committed else {
            throw violation(
                "leaderCompleteness",
                "leader \(node) of term \(core.term) holds term \(String(describing: held)) at committed index "
                    + "\(index) (committed term \(committed))"
            )
        }
    }

    /// Records newly committed indexes; the same index must never be committed with two terms.
    private mutating func observeCommit(_ node: NodeID, core: RaftCore) throws(InvariantViolation) {
        let commit = core.commitIndex
        let previous = liveCommit[node] ?? 0
        guard commit >= previous else {
            throw violation("commitMonotonic", "node \(node) commit index went from \(previous) to \(commit)")
        }
        liveCommit[node] = commit
        guard commit > previous else { return }
        for index in (previous + 1)...commit {
            guard let term = core.term(at: index) else { continue }  // inside a snapshot
            try recordCommitted(index: index, term: term, by: node, observerTerm: core.term)
        }
    }

    private mutating func recordCommitted(
        index: LogIndex,
        term: Term,
        by node: NodeID,
        observerTerm: Term
    ) throws(InvariantViolation) {
        while committedTerms.count <= Int(index) {
            committedTerms.append(0)
            commitTermAt.append(0)
        }
        let seenIn = commitTermAt[Int(index)]
        if seenIn == 0 || observerTerm < seenIn { commitTermAt[Int(index)] = observerTerm }
        let known = committedTerms[Int(index)]
        if known == 0 {
            committedTerms[Int(index)] = term
            highestCommitted = max(highestCommitted, index)
            if let conf = configWritten[EntryID(index: index, term: term)] {
                try recordCommittedConfig(conf, at: index)
            }
        } else if known != term {
            throw violation(
                "stateMachineSafety",
                "node \(node) committed index \(index) with term \(term), earlier committed with term \(known)"
            )
        }
    }

    /// Single-server change (dissertation §4.1): each committed membership differs from the one committed before
    /// it by at most one voter, so that every majority of the one overlaps every majority of the other.
    private mutating func recordCommittedConfig(_ conf: ConfState, at index: LogIndex) throws(InvariantViolation) {
        let position = committedConfigs.firstIndex { $0.index > index } ?? committedConfigs.count
        committedConfigs.insert((index, conf), at: position)
        for pair in [(position - 1, position), (position, position + 1)]
        where pair.0 >= 0
            && pair.1 < committedConfigs.count
        {
            let before = Set(committedConfigs[pair.0].conf.voters)
            let after = Set(committedConfigs[pair.1].conf.voters)
            guard before.symmetricDifference(after).count <= 1 else {
                throw violation(
                    "singleServerChange",
                    "membership committed at \(committedConfigs[pair.1].index) has voters \(after.sorted()), the one "
                        + "at \(committedConfigs[pair.0].index) had \(before.sorted()): more than one voter changed"
                )
            }
        }
    }

    // MARK: State Machine Safety

    mutating func nodeApplied(
        _ node: NodeID,
        entry: Entry,
        stateHash: UInt64,
        observerTerm: Term
    ) throws(InvariantViolation) {
        try recordCommitted(index: entry.index, term: entry.term, by: node, observerTerm: observerTerm)
        let id = EntryID(index: entry.index, term: entry.term)
        if let facts = entryFacts[id], facts.payloadHash != SimStateMachine.hash(entry.payload) {
            throw violation("stateMachineSafety", "node \(node) applied different bytes at \(entry.index)")
        }
        try checkStateHash(node, index: entry.index, hash: stateHash)
    }

    mutating func checkStateHash(_ node: NodeID, index: LogIndex, hash: UInt64) throws(InvariantViolation) {
        if let known = stateHashAt[index] {
            guard known == hash else {
                throw violation("stateMachineSafety", "node \(node) reached a different state at index \(index)")
            }
        } else {
            stateHashAt[index] = hash
        }
    }

    // MARK: Durability

    /// A node sent a granted vote: the vote must already be durable.
    mutating func nodeGrantedVote(_ node: NodeID, term: Term, candidate: NodeID) {
        grantedVote[node] = (term, candidate)
    }

    /// The durable hard state of a node changed (fsync or crash): it never goes back, and it covers every vote
    /// the node granted.
    mutating func durableHardStateChanged(_ node: NodeID, to state: HardState) throws(InvariantViolation) {
        if let previous = durableHardState[node] {
            guard state.term >= previous.term else {
                throw violation(
                    "termMonotonic",
                    "node \(node) durable term went from \(previous.term) to \(state.term)"
                )
            }
            if state.term == previous.term && previous.vote != 0 && state.vote != previous.vote {
                throw violation("voteMonotonic", "node \(node) durable vote changed in term \(state.term)")
            }
            guard state.commit >= previous.commit else {
                throw violation("commitMonotonic", "node \(node) durable commit went back to \(state.commit)")
            }
        }
        durableHardState[node] = state
    }

    /// A node restarted from `state`: it must not have forgotten a vote it granted.
    mutating func nodeRestarted(_ node: NodeID, from state: HardState) throws(InvariantViolation) {
        liveTerm[node] = nil
        liveCommit[node] = nil
        leaderTermSeen[node] = nil
        if let granted = grantedVote[node] {
            if state.term < granted.term || (state.term == granted.term && state.vote != granted.candidate) {
                throw violation(
                    "voteDurability",
                    "node \(node) restarted in term \(state.term) voting \(state.vote), but had granted its vote "
                        + "to \(granted.candidate) in term \(granted.term)"
                )
            }
        }
    }

    /// Every committed entry is durable on enough voters of each membership in effect that every majority of it
    /// includes a holder (a majority of an odd membership; of four voters, two), so no crash of the others can
    /// lose it.
    func checkCommittedDurable(disks: [NodeID: MemoryLog]) throws(InvariantViolation) {
        let index = highestCommitted
        guard index > 0, let term = committedTerm(at: index) else { return }
        for voters in votersInEffect {
            var holders = 0
            for voter in voters {
                guard let log = disks[voter] else { continue }
                if log.latestSnapshot.metadata.index >= index || (try? log.term(at: index)) == term {
                    holders += 1
                }
            }
            let needed = voters.count - (voters.count / 2 + 1) + 1
            guard holders >= needed else {
                throw violation(
                    "committedDurable",
                    "committed entry \(index)/\(term) is durable on only \(holders) of voters \(voters)"
                )
            }
            try checkNoElectableVoterLacks(index: index, term: term, voters: voters, disks: disks)
        }
    }

    /// Leader Completeness, checked before any election happens: no voter whose durable log lacks a committed
    /// entry may be "at least as up to date" (Raft §5.4.1) as a majority of durable logs, because that majority
    /// could elect it and it would overwrite the entry. In correct Raft the voters that acknowledged the entry of
    /// the leader's own term that committed it always refuse such a voter (the §5.4.2 argument); committing an
    /// earlier term's entry by counting replicas (Figure 8) breaks exactly this, before any overwrite happens.
    func checkNoElectableVoterLacks(
        index: LogIndex,
        term: Term,
        voters: [NodeID],
        disks: [NodeID: MemoryLog]
    ) throws(InvariantViolation) {
        func last(_ log: MemoryLog) -> (index: LogIndex, term: Term) {
            (log.lastIndex, (try? log.term(at: log.lastIndex)) ?? 0)
        }
        for candidate in voters {
            guard let log = disks[candidate] else { continue }
            if log.latestSnapshot.metadata.index >= index || (try? log.term(at: index)) == term { continue }
            let mine = last(log)
            var grants = 0
            for voter in voters {
                guard let theirs = disks[voter].map(last) else { continue }
                if mine.term > theirs.term || (mine.term == theirs.term && mine.index >= theirs.index) { grants += 1 }
            }
            if grants >= voters.count / 2 + 1 {
                throw violation(
                    "electableWithoutCommitted",
                    "voter \(candidate) lacks committed entry \(index)/\(term) but its log (last \(mine.index)/"
                        + "\(mine.term)) is as up to date as \(grants) of \(voters.count) voters' durable logs"
                )
            }
        }
    }
}
