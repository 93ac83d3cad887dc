/// Majority arithmetic over a set of voters (etcd `quorum.MajorityConfig`).
enum Quorum {
    /// The number of voters that makes a majority.
    static func size(voters: Int) -> Int { voters / 2 + 1 }

    /// The highest index that a majority of voters has durably: the commit candidate (Raft §5.3).
    /// - Precondition: `matches` holds one value per voter and is not empty.
    static func committedIndex(matches: [LogIndex]) -> LogIndex {
        precondition(!matches.isEmpty, "no voters")
        let sorted = matches.sorted(by: >)
        return sorted[size(voters: sorted.count) - 1]
    }
}

/// The votes a (pre-)candidate has collected in one campaign.
struct VoteTally: Sendable, Hashable {
    enum Outcome: Sendable, Hashable {
        case pending
        case won
        case lost
    }

    private(set) var granted: Set<NodeID> = []
    private(set) var rejected: Set<NodeID> = []

    /// Records the first answer of each voter; later duplicates are ignored.
    mutating func record(_ voter: NodeID, granted isGranted: Bool) {
        guard !granted.contains(voter) && !rejected.contains(voter) else { return }
        if isGranted { granted.insert(voter) } else { rejected.insert(voter) }
    }

    func outcome(voters: [NodeID]) -> Outcome {
        let quorum = Quorum.size(voters: voters.count)
        let yes = voters.filter { granted.contains($0) }.count
        let no = voters.filter { rejected.contains($0) }.count
        if yes >= quorum { return .won }
        if no > voters.count - quorum { return .lost }
        return .pending
    }
}
