import FerryNode
import Testing

/// The cluster's time from the peers' clocks (issue 18): one clock minutes off moves nothing.
@Suite struct PeerClocksTests {
    let base: Int64 = 1_800_000_000_000

    @Test func oneClockMinutesAheadOrBehindIsOutvoted() {
        for wild: Int64 in [600_000, -600_000] {
            var clocks = PeerClocks()
            clocks.heard(2, peerWallMs: base + 3, localWallMs: base, nowMs: 100)
            clocks.heard(3, peerWallMs: base + wild, localWallMs: base, nowMs: 100)
            // The median of the two right clocks and the wild one is one of the right two.
            let expected = wild > 0 ? base + 3 : base
            #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 100, members: [1, 2, 3]) == expected)
        }
    }

    /// This node's own clock jumps: the estimates of the others follow the monotonic clock, not the jump.
    @Test func aJumpOfThisNodesClockMovesNeitherTheOthersNorTheMedian() {
        var clocks = PeerClocks()
        clocks.heard(2, peerWallMs: base, localWallMs: base, nowMs: 1_000)
        clocks.heard(3, peerWallMs: base + 10, localWallMs: base, nowMs: 1_000)
        // 2 s later (monotonic) this node's wall clock reads 10 minutes ahead.
        let time = clocks.clusterWallMs(localWallMs: base + 2_000 + 600_000, nowMs: 3_000, members: [1, 2, 3])
        #expect(time == base + 2_010)
    }

    /// Two clocks left that disagree by more than `agreementMs`: no cluster time (a leader then advances by its
    /// monotonic clock), rather than the wrong one of the two.
    @Test func twoClocksThatDisagreeGiveNoTime() {
        var clocks = PeerClocks()
        clocks.heard(2, peerWallMs: base + 600_000, localWallMs: base, nowMs: 0)
        #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 10, members: [1, 2, 3]) == nil)
        clocks.heard(2, peerWallMs: base + 40, localWallMs: base, nowMs: 20)
        #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 20, members: [1, 2, 3]) == base)
    }

    /// A peer not heard for `freshMs` has no say; a node that heard no peer has no time in a cluster of three.
    @Test func staleReadingsAreIgnored() {
        var clocks = PeerClocks()
        #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 0, members: [1, 2, 3]) == nil)
        #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 0, members: [1]) == base)
        clocks.heard(2, peerWallMs: base, localWallMs: base, nowMs: 0)
        clocks.heard(3, peerWallMs: base, localWallMs: base, nowMs: 0)
        #expect(clocks.clusterWallMs(localWallMs: base + 6_000, nowMs: 6_000, members: [1, 2, 3]) == nil)
        #expect(clocks.offsetMs(of: 2) == 0)
        // A node that is no longer a member has no say either.
        #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 10, members: [1, 3]) == base)
        #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 10, members: [1, 3, 4]) == base)
    }

    /// Five members, two clocks wild in opposite directions: the three that agree decide.
    @Test func fiveMembersTolerateTwoWildClocks() {
        var clocks = PeerClocks()
        clocks.heard(2, peerWallMs: base + 1, localWallMs: base, nowMs: 0)
        clocks.heard(3, peerWallMs: base + 2, localWallMs: base, nowMs: 0)
        clocks.heard(4, peerWallMs: base + 300_000, localWallMs: base, nowMs: 0)
        clocks.heard(5, peerWallMs: base - 300_000, localWallMs: base, nowMs: 0)
        #expect(clocks.clusterWallMs(localWallMs: base, nowMs: 0, members: [1, 2, 3, 4, 5]) == base + 1)
    }
}
