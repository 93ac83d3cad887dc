import NIOCore

/// One single-server membership change (Raft dissertation §4.1–§4.3): a node joins as a learner, a caught-up
/// learner becomes a voter, or a member leaves. A new voter always joins as a learner first (§4.2.1), so that it
/// holds the log before it counts for quorum.
public enum MembershipChange: Sendable, Hashable, CustomStringConvertible {
    /// A node joins as a learner: it receives the log (a snapshot first when the log is compacted) and counts
    /// for nothing.
    case addLearner(NodeID)
    /// A learner becomes a voter. Refused while it lags (`RaftConfig.maxPromotionLagEntries`).
    case promote(NodeID)
    /// A voter or learner leaves. A leader that removes itself leads until the removal commits, then steps down.
    case remove(NodeID)

    public var node: NodeID {
        switch self {
        case .addLearner(let node), .promote(let node), .remove(let node): return node
        }
    }

    public var description: String {
        switch self {
        case .addLearner(let node): return "add-learner \(node)"
        case .promote(let node): return "promote \(node)"
        case .remove(let node): return "remove \(node)"
        }
    }
}

/// Why a membership change was refused. Every case is immediate: nothing was appended.
public enum MembershipChangeError: Error, Sendable, Hashable, CustomStringConvertible {
    case notLeader(leaderHint: NodeID?)
    case leadershipTransferInProgress(target: NodeID)
    /// A change is still pending (appended, not yet in effect), or this leader has not yet committed an entry
    /// of its own term (dissertation §4.1 and the 2015 correction on raft-dev): one change at a time.
    case changeInProgress(pendingIndex: LogIndex)
    case alreadyMember(NodeID)
    case notAMember(NodeID)
    case notALearner(NodeID)
    /// The change would leave the group with fewer than two voters (see `RaftCore+Membership` for why one
    /// voter is not enough to shrink to).
    case tooFewVoters(NodeID, remaining: Int)
    /// The learner's log is too far behind to promote it yet (it would stall commits while it catches up).
    case learnerBehind(NodeID, match: LogIndex, committed: LogIndex)
    case invalidNode
    case stopped(RaftLogError)

    public var description: String {
        switch self {
        case .notLeader(let hint): return "not the leader (leader hint \(hint.map(String.init) ?? "none"))"
        case .leadershipTransferInProgress(let target): return "leadership is moving to \(target)"
        case .changeInProgress(let index):
            return "a membership change (or this leader's first entry) at \(index) is pending"
        case .alreadyMember(let node): return "node \(node) is already a member"
        case .notAMember(let node): return "node \(node) is not a member"
        case .notALearner(let node): return "node \(node) is not a learner"
        case .tooFewVoters(let node, let remaining):
            return "removing node \(node) would leave \(remaining) voter\(remaining == 1 ? "" : "s"); add one first"
        case .learnerBehind(let node, let match, let committed):
            return "learner \(node) holds the log up to \(match), the group committed \(committed)"
        case .invalidNode: return "node id 0 is reserved"
        case .stopped(let error): return "the group stopped: \(error)"
        }
    }
}

extension ConfState {
    /// The membership after `change`, or why the change does not apply to this membership.
    public func applying(_ change: MembershipChange) throws(MembershipChangeError) -> ConfState {
        let node = change.node
        guard node != 0 else { throw .invalidNode }
        switch change {
        case .addLearner:
            guard !members.contains(node) else { throw .alreadyMember(node) }
            return ConfState(voters: voters, learners: learners + [node])
        case .promote:
            guard learners.contains(node) else { throw .notALearner(node) }
            return ConfState(voters: voters + [node], learners: learners.filter { $0 != node })
        case .remove:
            guard members.contains(node) else { throw .notAMember(node) }
            if voters.contains(node) && voters.count <= 2 { throw .tooFewVoters(node, remaining: voters.count - 1) }
            return ConfState(voters: voters.filter { $0 != node }, learners: learners.filter { $0 != node })
        }
    }

    /// The payload of a `config` entry: the whole membership after the change, so that a node that joins
    /// later (and never saw the group's first membership) learns it from the entry alone.
    ///
    /// `version u8 (1) | voters u16 + u64 each | learners u16 + u64 each`.
    public func encodedEntryPayload() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(1))
        for list in [voters, learners] {
            buffer.writeInteger(UInt16(list.count))
            for member in list { buffer.writeInteger(member) }
        }
        return buffer
    }

    /// Decodes a `config` entry's payload; nil when it is not one this version wrote.
    public init?(entryPayload: ByteBuffer) {
        var buffer = entryPayload
        guard buffer.readInteger(as: UInt8.self) == 1 else { return nil }
        var lists: [[NodeID]] = []
        for _ in 0..<2 {
            guard let count = buffer.readInteger(as: UInt16.self), Int(count) * 8 <= buffer.readableBytes else {
                return nil
            }
            var list: [NodeID] = []
            for _ in 0..<count {
                guard let member = buffer.readInteger(as: UInt64.self), member != 0 else { return nil }
                list.append(member)
            }
            lists.append(list)
        }
        guard buffer.readableBytes == 0, !lists[0].isEmpty else { return nil }
        self.init(voters: lists[0], learners: lists[1])
    }
}

/// What a group's leader does next to bring its membership to the voters it should have.
public enum MembershipStep: Sendable, Hashable {
    case change(MembershipChange)
    /// The leader is to leave: hand leadership to this voter first (it keeps the group available meanwhile).
    case transferLeadership(to: NodeID)
    /// A learner is catching up; promote it once it has (`MembershipPlan.next` again).
    case waitForCatchUp(NodeID)
    case done
}

/// The path from a group's membership to the voters it should have, one safe step at a time: every wanted
/// node joins as a learner, is promoted once caught up, and only then does an unwanted member leave (so the
/// group never has fewer voters than it should while replicas move); unwanted learners go first, the leader
/// last (after handing leadership over), and never below two voters.
public enum MembershipPlan {
    /// - Parameters:
    ///   - wanted: the voters the group should have.
    ///   - caughtUp: whether a learner holds the log closely enough to be promoted.
    public static func next(
        current: ConfState,
        wanted: [NodeID],
        leader: NodeID,
        caughtUp: (NodeID) -> Bool
    ) -> MembershipStep {
        let wanted = Array(Set(wanted)).sorted()
        if let missing = wanted.first(where: { !current.members.contains($0) }) {
            return .change(.addLearner(missing))
        }
        if let learner = wanted.first(where: { current.learners.contains($0) }) {
            return caughtUp(learner) ? .change(.promote(learner)) : .waitForCatchUp(learner)
        }
        if let learner = current.learners.first(where: { !wanted.contains($0) }) {
            return .change(.remove(learner))
        }
        let unwanted = current.voters.filter { !wanted.contains($0) }
        guard !unwanted.isEmpty, current.voters.count > 2 else { return .done }
        if let voter = unwanted.first(where: { $0 != leader }) { return .change(.remove(voter)) }
        if let successor = current.voters.first(where: { wanted.contains($0) && $0 != leader }) {
            return .transferLeadership(to: successor)
        }
        return .done
    }
}
