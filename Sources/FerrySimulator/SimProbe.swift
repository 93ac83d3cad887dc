/// Paths of the protocol and the fault model that runs should reach.
public enum SimProbe: String, CaseIterable, Sendable, Hashable, Comparable {
    case preVoteRejected, voteRejected, appendRejected, snapshotChunkDelivered, snapshotInstalled
    case timeoutNowDelivered, leaderSteppedDown, proposalRefusedNotLeader, proposalRefusedTransfer
    case proposalRefusedUncommitted, crashLostUnsyncedWrites, crashKeptSomeUnsyncedWrites, messageDuplicated
    case messageLost, partitionDropped, deliveredAfterPause, learnerApplied, logCompacted
    /// Membership faults (`SimConfig.membershipSwarm`) only.
    case memberAdded, learnerPromoted, memberRemoved, leaderRemovedItself, secondChangeRefused, crashedMidChange

    public static func < (a: SimProbe, b: SimProbe) -> Bool { a.rawValue < b.rawValue }

    /// The probes only membership faults reach.
    public static let membership: Set<SimProbe> = [
        .memberAdded, .learnerPromoted, .memberRemoved, .leaderRemovedItself, .secondChangeRefused, .crashedMidChange,
    ]
}
