import FerryNode
import Testing

/// Leader balancing driven by hand-made time: rounds come every interval and never while stopping, and only a
/// caught-up preferred replica other than this node gets the leadership.
@Suite struct LeaderBalancerTests {
    @Test func roundsComeEveryIntervalAndNeverWhileStopping() {
        var balancer = LeaderBalancer(me: 1, intervalMs: 5_000)
        var due: [Bool] = []
        for (now, stopping) in [(100, false), (4_000, false), (5_099, false), (5_100, false), (20_000, true)] {
            due.append(balancer.roundDue(at: Int64(now), stopping: stopping))
        }
        #expect(due == [true, false, false, true, false])
        let afterStop = balancer.roundDue(at: 20_001, stopping: false)
        #expect(afterStop)  // the stop refused a round without starting one
    }

    @Test func onlyACaughtUpPreferredReplicaOtherThanThisNodeGetsTheLeadership() {
        let balancer = LeaderBalancer(me: 1)
        let led = [
            LeaderBalancer.Led(groupID: 10, preferredLeader: 2, preferredMatch: 50, lastIndex: 50),  // moves
            LeaderBalancer.Led(groupID: 11, preferredLeader: 3, preferredMatch: 49, lastIndex: 50),  // behind
            LeaderBalancer.Led(groupID: 12, preferredLeader: 1, preferredMatch: nil, lastIndex: 50),  // here
            LeaderBalancer.Led(groupID: 13, preferredLeader: 4, preferredMatch: nil, lastIndex: 0),  // no follower
            LeaderBalancer.Led(groupID: 14, preferredLeader: 3, preferredMatch: 7, lastIndex: 7),  // moves
        ]
        let transfers = balancer.transfers(led)
        #expect(transfers.map(\.groupID) == [10, 14])
        #expect(transfers.map(\.to) == [2, 3])
    }
}
