/// Leader balancing, a part of the node's core with time as an input (no clock, no I/O): every `intervalMs`, a
/// partition led here whose preferred leader (the catalog's first replica) is another replica holding the whole
/// log is handed to it, so that leaderships spread as the catalog placed them, also after a node returns. A
/// node that is stopping hands its leaderships off by other means and balances nothing.
package struct LeaderBalancer {
    /// A partition group led by this node, as the balancer needs to see it.
    package struct Led: Sendable, Hashable {
        package var groupID: UInt64
        package var preferredLeader: UInt64
        /// How far the preferred replica's log matches this leader's (nil: it is not a follower here).
        package var preferredMatch: UInt64?
        package var lastIndex: UInt64

        package init(groupID: UInt64, preferredLeader: UInt64, preferredMatch: UInt64?, lastIndex: UInt64) {
            self.groupID = groupID
            self.preferredLeader = preferredLeader
            self.preferredMatch = preferredMatch
            self.lastIndex = lastIndex
        }
    }

    package let me: UInt64
    package let intervalMs: Int64
    private var lastRoundMs: Int64?

    package init(me: UInt64, intervalMs: Int64 = 5_000) {
        self.me = me
        self.intervalMs = intervalMs
    }

    /// Whether a round is due at `nowMs`; a due round counts as started.
    package mutating func roundDue(at nowMs: Int64, stopping: Bool) -> Bool {
        guard !stopping else { return false }
        if let last = lastRoundMs, nowMs - last < intervalMs { return false }
        lastRoundMs = nowMs
        return true
    }

    /// The leadership transfers of a round, in the order given: each group whose preferred leader is another
    /// node that holds this leader's whole log.
    package func transfers(_ led: [Led]) -> [(groupID: UInt64, to: UInt64)] {
        led.compactMap { group in
            guard group.preferredLeader != me, group.preferredMatch == group.lastIndex else { return nil }
            return (group.groupID, group.preferredLeader)
        }
    }
}
