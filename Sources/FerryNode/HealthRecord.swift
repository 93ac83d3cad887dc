import FerryWire

/// What the node remembers for `NodeHealth` (the console's node and timeline views): its last group commits'
/// durations and the leadership changes it saw. Part of the node's core: times are the round's, given.
package struct HealthRecord: Sendable {
    /// Group commits kept for the median and maximum.
    static let window = 128
    private var syncMicros: [Int64] = []
    private var nextSync = 0
    /// Oldest first, at most `NodeHealth.maxLeadershipChanges`.
    private(set) var leadershipChanges: [NodeHealth.LeadershipChange] = []

    package init() {}

    mutating func recordSync(nanoseconds: Int64) {
        let micros = nanoseconds / 1_000
        if syncMicros.count < Self.window {
            syncMicros.append(micros)
        } else {
            syncMicros[nextSync] = micros
            nextSync = (nextSync + 1) % Self.window
        }
    }

    /// A group's leader as this node learned it changed (0: it has none now, an election runs).
    mutating func recordLeader(group: UInt64, term: UInt64, leader: UInt64, atMs: Int64) {
        if let last = leadershipChanges.last(where: { $0.groupID == group }), last.leader == leader, last.term == term {
            return
        }
        leadershipChanges.append(NodeHealth.LeadershipChange(groupID: group, term: term, leader: leader, atMs: atMs))
        if leadershipChanges.count > NodeHealth.maxLeadershipChanges { leadershipChanges.removeFirst() }
    }

    /// The median (upper of an even count) and the largest recorded group commit, µs.
    var syncFigures: (median: Int64, max: Int64) {
        guard !syncMicros.isEmpty else { return (0, 0) }
        let sorted = syncMicros.sorted()
        return (sorted[sorted.count / 2], sorted[sorted.count - 1])
    }
}
