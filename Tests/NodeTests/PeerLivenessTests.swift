import FerryNode
import Testing

/// The node's view of its peers, driven by hand-made time: silence is reported once, hearing again clears it,
/// and a group's quorum counts only the voters not lost (this node always counts).
@Suite struct PeerLivenessTests {
    @Test func aPeerSilentForTheWholeTimeoutIsReportedOnceAndComesBackWhenHeard() {
        var liveness = PeerLiveness(me: 1, peers: [1, 2, 3], silenceMs: 1_000, nowMs: 0)
        let early = liveness.newlySilent(at: 999)
        #expect(early.isEmpty)
        let wasSilent = liveness.heard(from: 2, at: 500)
        #expect(!wasSilent)
        let lost = liveness.newlySilent(at: 1_000)
        #expect(lost.map(\.peer) == [3])
        #expect(lost.map(\.silentMs) == [1_000])
        #expect(liveness.isSilent(3) && !liveness.isSilent(2))
        let again = liveness.newlySilent(at: 1_200)
        #expect(again.isEmpty)  // reported once per silence
        let second = liveness.newlySilent(at: 1_500)
        #expect(second.map(\.peer) == [2])
        let back = liveness.heard(from: 3, at: 1_600)
        #expect(back)
        #expect(!liveness.isSilent(3))
        let before = liveness.newlySilent(at: 2_599)
        #expect(before.isEmpty)
        let after = liveness.newlySilent(at: 2_600)
        #expect(after.map(\.peer) == [3])
    }

    @Test func aQuorumCountsThisNodeAndTheVotersNotLost() {
        var liveness = PeerLiveness(me: 1, peers: [1, 2, 3, 4, 5], silenceMs: 100, nowMs: 0)
        #expect(liveness.hasLiveQuorum([1, 2, 3]))
        _ = liveness.heard(from: 2, at: 90)
        let lost = liveness.newlySilent(at: 100)
        #expect(lost.map(\.peer) == [3, 4, 5])
        #expect(liveness.hasLiveQuorum([1, 2, 3]))  // 1 and 2 of 3
        #expect(!liveness.hasLiveQuorum([1, 2, 3, 4, 5]))  // 2 of 5
        #expect(!liveness.hasLiveQuorum([2, 3, 4]))  // this node is not a voter: only 2
        #expect(liveness.hasLiveQuorum([1]))
        #expect(liveness.lastHeardMs.keys.sorted() == [2, 3, 4, 5])
    }
}
