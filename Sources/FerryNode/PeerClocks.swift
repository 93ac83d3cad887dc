/// The cluster's wall clock as this node estimates it (issue 18): the median of its own wall clock and the
/// recently heard wall clocks of its peers. Entries are stamped with it, so a partition's time (which only moves
/// forward: `QueuePartition.nowMs`) follows a majority of the clocks, not the leader's alone: one node whose
/// clock jumps minutes ahead or behind (an NTP step, a mis-set host) moves no dedup window, visibility timeout,
/// delay or retention, and leadership moving between nodes whose clocks differ by minutes neither freezes nor
/// jumps a partition's time.
///
/// Each `alive` frame carries its sender's wall clock; the estimate of a peer's clock is its last reading plus
/// the time elapsed since on this node's monotonic clock (the network delay makes it a few ms low). Never this
/// node's wall clock: when that one jumps, the estimates of the others must not jump with it. Readings older than
/// `freshMs` (monotonic) are not used: a peer that stopped answering has no say. The median (the lower middle
/// one for an even count) counts only when a majority of the members' clocks lie within `agreementMs` of it;
/// otherwise there is no cluster time (nil: a node that just started and heard no peer yet, or two clocks left
/// that disagree), and a leader advances its stamps by its monotonic clock from the last one
/// (`GroupDriver.stamp`): time then neither jumps nor stops.
///
/// Pure: time is an input, as in `PeerLiveness`.
package struct PeerClocks {
    package static let freshMs: Int64 = 5_000
    /// Clocks this close to the median agree with it (NTP keeps hosts within milliseconds; a jump is minutes).
    package static let agreementMs: Int64 = 5_000

    struct Reading {
        /// The peer's wall clock, as its frame said.
        var peerWallMs: Int64
        /// When it was heard (this node's monotonic clock).
        var heardAtMs: Int64
        /// The peer's wall clock minus this node's, when heard (for `ferry cluster status`).
        var offsetMs: Int64
    }

    private var readings: [UInt64: Reading] = [:]

    package init() {}

    /// `peer`'s `alive` frame said its wall clock read `peerWallMs`; it arrived at `localWallMs` (wall) and
    /// `nowMs` (monotonic).
    package mutating func heard(_ peer: UInt64, peerWallMs: Int64, localWallMs: Int64, nowMs: Int64) {
        readings[peer] = Reading(peerWallMs: peerWallMs, heardAtMs: nowMs, offsetMs: peerWallMs - localWallMs)
    }

    /// The median of this node's wall clock and the fresh estimates of the other `members` (the lower middle one
    /// for an even count), when a majority of the members' clocks (this node's included) agree with it; else nil.
    /// A node that is not (or no longer) a member is not counted.
    package func clusterWallMs(localWallMs: Int64, nowMs: Int64, members: [UInt64]) -> Int64? {
        var clocks = [localWallMs]
        for member in members {
            guard let reading = readings[member], nowMs - reading.heardAtMs <= Self.freshMs else { continue }
            clocks.append(reading.peerWallMs + (nowMs - reading.heardAtMs))
        }
        clocks.sort()
        let median = clocks[(clocks.count - 1) / 2]
        let agreeing = clocks.filter { abs($0 - median) <= Self.agreementMs }.count
        return agreeing > max(members.count, 1) / 2 ? median : nil
    }

    /// How far `peer`'s clock was from this node's when last heard (nil when never heard).
    package func offsetMs(of peer: UInt64) -> Int64? { readings[peer]?.offsetMs }
}
