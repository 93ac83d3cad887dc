import FerryClient
import FerryModel
import FerryWire

/// The whole cluster as one client sees it at one moment: the description and every reachable node's own status.
/// `ferry cluster status` prints it; `ferry cluster wait` tests it until a condition holds.
struct ClusterView {
    var description: ClusterDescription
    /// Each node's status, nil where the node did not answer.
    var statuses: [(node: NodeDescription, status: NodeStatus?)]
    /// Each group's status as its leader reports it (the leader alone knows its followers' progress).
    var led: [UInt64: GroupStatus]

    /// A follower more entries behind its leader than this is not caught up.
    static let caughtUpLag: UInt64 = 10

    init(_ client: FerryClient) throws(FerryClientError) {
        description = try client.describe()
        statuses = description.nodes.map { node in
            (node, try? client.nodeStatus(host: node.host, port: Int(node.clientPort)))
        }
        led = [:]
        for (node, status) in statuses {
            for group in status?.groups ?? [] where group.leader == node.id { led[group.groupID] = group }
        }
    }

    /// Partitions whose leader's membership is not yet the catalog's placement (or that have no leader).
    var moving: [PartitionDescription] {
        description.partitions.filter { partition in
            guard let group = led[partition.groupID] else { return true }
            return group.voters.sorted() != partition.replicas.sorted() || !group.learners.isEmpty
        }
    }

    static func lag(_ group: GroupStatus, _ follower: GroupStatus.FollowerProgress) -> UInt64 {
        group.commitIndex > follower.matchIndex ? group.commitIndex - follower.matchIndex : 0
    }

    /// The nodes that did not answer.
    var unreachable: [UInt64] { statuses.filter { $0.status == nil }.map(\.node.id) }

    /// Why the cluster is not settled (every node answers, every group has a leader and no follower lags, no
    /// replica is moving), or nil when it is.
    var unsettled: String? {
        if let node = unreachable.first { return "node \(node) does not answer" }
        if let partition = moving.first { return "group \(partition.groupID) is moving or has no leader" }
        return lagging(nil)
    }

    /// Why node `id` is not caught up (it answers, and no leader reports it lagging), or nil when it is.
    func notCaughtUp(_ id: UInt64) -> String? {
        guard let entry = statuses.first(where: { $0.node.id == id }) else { return "node \(id) is not a member" }
        guard let status = entry.status else { return "node \(id) does not answer" }
        for group in status.groups where group.leader == 0 {
            return "group \(group.groupID) has no leader on node \(id)"
        }
        return lagging(id)
    }

    /// Why node `id` is not gone yet (it is still listed, or a group still counts it), or nil when it is.
    func notGone(_ id: UInt64) -> String? {
        if description.nodes.contains(where: { $0.id == id }) { return "node \(id) is still listed" }
        for group in led.values where group.voters.contains(id) || group.learners.contains(id) {
            return "group \(group.groupID) still counts node \(id)"
        }
        if let partition = moving.first { return "group \(partition.groupID) is moving or has no leader" }
        return nil
    }

    /// The first follower (of node `id`, or any) that lags its leader, described.
    private func lagging(_ id: UInt64?) -> String? {
        for group in led.values.sorted(by: { $0.groupID < $1.groupID }) {
            for follower in group.followers where id == nil || follower.node == id {
                let behind = Self.lag(group, follower)
                if behind >= Self.caughtUpLag {
                    return "node \(follower.node) is \(behind) entries behind in group \(group.groupID)"
                }
            }
        }
        return nil
    }
}
