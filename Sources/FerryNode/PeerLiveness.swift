/// Which peers this node has heard from lately, with time as an input (no clock, no I/O): any frame counts; a
/// peer silent for `silenceMs` is lost, and hearing from it again brings it back. Part of the node's core
/// (issue 15): the runtime passes the time and acts on what this returns.
/// - Invariant: `silent` ⊆ the keys of `lastHeardMs`; a peer is reported lost once per silence.
package struct PeerLiveness {
    package let me: UInt64
    package let silenceMs: Int64
    /// The last time (ms) a frame came from each peer.
    package private(set) var lastHeardMs: [UInt64: Int64] = [:]
    package private(set) var silent: Set<UInt64> = []

    /// Every peer counts as heard at `nowMs` (a node starting gives each peer a whole silence to speak).
    package init(me: UInt64, peers: [UInt64], silenceMs: Int64, nowMs: Int64) {
        self.me = me
        self.silenceMs = silenceMs
        for peer in peers where peer != me { lastHeardMs[peer] = nowMs }
    }

    /// Starts tracking a peer that joined (heard at `nowMs`, so it gets a whole silence to speak); a peer already
    /// tracked is unchanged.
    package mutating func add(_ peer: UInt64, at nowMs: Int64) {
        if peer != me && lastHeardMs[peer] == nil { lastHeardMs[peer] = nowMs }
    }

    /// A frame came from `peer` at `nowMs`. True when the peer had been silent (it is back).
    package mutating func heard(from peer: UInt64, at nowMs: Int64) -> Bool {
        lastHeardMs[peer] = nowMs
        return silent.remove(peer) != nil
    }

    /// The peers that fell silent by `nowMs` and were not reported yet, in id order, with how long each has been
    /// silent.
    package mutating func newlySilent(at nowMs: Int64) -> [(peer: UInt64, silentMs: Int64)] {
        var lost: [(UInt64, Int64)] = []
        for (peer, heard) in lastHeardMs.sorted(by: { $0.key < $1.key })
        where nowMs - heard >= silenceMs && !silent.contains(peer) {
            silent.insert(peer)
            lost.append((peer, nowMs - heard))
        }
        return lost
    }

    package func isSilent(_ peer: UInt64) -> Bool { silent.contains(peer) }

    /// True when this node and the voters it has not lost make a majority of `voters`.
    package func hasLiveQuorum(_ voters: [UInt64]) -> Bool {
        voters.filter { $0 == me || !silent.contains($0) }.count > voters.count / 2
    }
}
