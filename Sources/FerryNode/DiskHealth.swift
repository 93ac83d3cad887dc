/// Whether this node's disk is slow (issue 18), from the durations of its last group commits: part of the node's
/// core, with durations as inputs (no clock). A node whose disk is slow hands its leaderships to its followers
/// and tells its peers (`PeerControl.alive`'s `slowDisk`), whose leader balancing then gives it none back: a
/// leader's fsync is on the path of every acknowledgement it gives, a follower's only when it is needed for a
/// majority. As TiKV evicts leaders from a slow store.
package struct DiskHealth: Sendable {
    /// A disk is slow while the median of the last `window` group commits takes longer than this (0: never).
    package let slowMs: Int64
    package let window: Int
    private var recent: [Int64] = []
    private var next = 0
    package private(set) var isSlow = false

    package init(slowMs: Int64, window: Int = 8) {
        self.slowMs = slowMs
        self.window = window
    }

    /// Records one group commit; true when this changed `isSlow`.
    package mutating func record(ms: Int64) -> Bool {
        if recent.count < window {
            recent.append(ms)
        } else {
            recent[next] = ms
            next = (next + 1) % window
        }
        let slow = slowMs > 0 && recent.count == window && medianMs > slowMs
        defer { isSlow = slow }
        return slow != isSlow
    }

    /// The median of the recorded group commits (the upper one of an even count).
    package var medianMs: Int64 {
        guard !recent.isEmpty else { return 0 }
        return recent.sorted()[recent.count / 2]
    }
}
