import FerryModel
import NIOCore

/// What a node tells the console beyond `NodeStatus` (issue 20): its disk and fsync figures and the leadership
/// changes it saw. Request kind 28 (`nodeHealth`, no body), answer kind 21:
/// `node u64 | fsync median µs i64 | fsync max µs i64 | disk total u64 | disk free u64 | slow disk u8 |
/// count u16 | (group u64 | term u64 | leader u64 | at ms i64)*`.
/// New kinds, not a new protocol version: a node before issue 20 answers the request with an error, which the
/// console shows as figures it does not have.
public struct NodeHealth: Sendable, Hashable {
    public struct LeadershipChange: Sendable, Hashable {
        public var groupID: UInt64
        public var term: UInt64
        /// The group's new leader as this node learned it; 0 when it lost its leader (an election began).
        public var leader: UInt64
        /// This node's wall clock when it learned it (ms since the epoch).
        public var atMs: Int64

        public init(groupID: UInt64, term: UInt64, leader: UInt64, atMs: Int64) {
            self.groupID = groupID
            self.term = term
            self.leader = leader
            self.atMs = atMs
        }
    }

    public var nodeID: UInt64
    /// Median and largest of the node's last group commits, µs (0 before the first).
    public var fsyncMedianMicros: Int64
    public var fsyncMaxMicros: Int64
    /// The file system of the data directory (0 when unknown).
    public var diskTotalBytes: UInt64
    public var diskFreeBytes: UInt64
    /// The node judges its disk slow (`slow_disk_ms`) and hands its leaderships away.
    public var slowDisk: Bool
    /// Oldest first; at most `NodeHealth.maxLeadershipChanges`.
    public var leadershipChanges: [LeadershipChange]

    public static let maxLeadershipChanges = 64

    public init(
        nodeID: UInt64,
        fsyncMedianMicros: Int64 = 0,
        fsyncMaxMicros: Int64 = 0,
        diskTotalBytes: UInt64 = 0,
        diskFreeBytes: UInt64 = 0,
        slowDisk: Bool = false,
        leadershipChanges: [LeadershipChange] = []
    ) {
        self.nodeID = nodeID
        self.fsyncMedianMicros = fsyncMedianMicros
        self.fsyncMaxMicros = fsyncMaxMicros
        self.diskTotalBytes = diskTotalBytes
        self.diskFreeBytes = diskFreeBytes
        self.slowDisk = slowDisk
        self.leadershipChanges = leadershipChanges
    }
}

extension ClientFrame {
    static func write(_ health: NodeHealth, into buffer: inout ByteBuffer) {
        buffer.writeInteger(health.nodeID)
        buffer.writeInteger(health.fsyncMedianMicros)
        buffer.writeInteger(health.fsyncMaxMicros)
        buffer.writeInteger(health.diskTotalBytes)
        buffer.writeInteger(health.diskFreeBytes)
        buffer.writeInteger(UInt8(health.slowDisk ? 1 : 0))
        let changes = health.leadershipChanges.suffix(NodeHealth.maxLeadershipChanges)
        buffer.writeInteger(UInt16(changes.count))
        for change in changes {
            buffer.writeInteger(change.groupID)
            buffer.writeInteger(change.term)
            buffer.writeInteger(change.leader)
            buffer.writeInteger(change.atMs)
        }
    }

    static func write(_ groups: [GroupBacklog], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(groups.count))
        for group in groups {
            QueueFields.write(group.groupID, into: &buffer)
            buffer.writeInteger(UInt32(clamping: group.messages))
            buffer.writeInteger(UInt32(clamping: group.inFlight))
            buffer.writeInteger(group.oldestSentAtMs)
        }
    }

    static func readGroups(_ buffer: inout ByteBuffer) throws -> [GroupBacklog] {
        let n = try count(&buffer, "group count", minimumItemBytes: 2 + 4 + 4 + 8)
        var groups: [GroupBacklog] = []
        for _ in 0..<n {
            groups.append(
                GroupBacklog(
                    groupID: try QueueFields.readString(&buffer, "group id"),
                    messages: Int(try buffer.readU32("messages")),
                    inFlight: Int(try buffer.readU32("in flight")),
                    oldestSentAtMs: try QueueFields.read(Int64.self, &buffer, "oldest sent at")
                )
            )
        }
        return groups
    }

    static func readHealth(_ buffer: inout ByteBuffer) throws -> NodeHealth {
        var health = NodeHealth(nodeID: try buffer.readU64("node id"))
        health.fsyncMedianMicros = try QueueFields.read(Int64.self, &buffer, "fsync median")
        health.fsyncMaxMicros = try QueueFields.read(Int64.self, &buffer, "fsync max")
        health.diskTotalBytes = try buffer.readU64("disk total")
        health.diskFreeBytes = try buffer.readU64("disk free")
        switch try buffer.readU8("slow disk") {
        case 0: health.slowDisk = false
        case 1: health.slowDisk = true
        case let other: throw WireDecodeError.invalidValue(field: "slow disk", value: UInt64(other))
        }
        let n = try count(&buffer, "leadership change count", minimumItemBytes: 32)
        guard n <= NodeHealth.maxLeadershipChanges else {
            throw WireDecodeError.invalidValue(field: "leadership change count", value: UInt64(n))
        }
        for _ in 0..<n {
            health.leadershipChanges.append(
                NodeHealth.LeadershipChange(
                    groupID: try buffer.readU64("group"),
                    term: try buffer.readU64("term"),
                    leader: try buffer.readU64("leader"),
                    atMs: try QueueFields.read(Int64.self, &buffer, "at")
                )
            )
        }
        return health
    }

    static func readGroup(_ buffer: inout ByteBuffer) throws -> GroupStatus {
        let groupID = try buffer.readU64("group id")
        let queue = try QueueFields.readString(&buffer, "queue")
        let partition = try buffer.readU32("partition")
        let leader = try buffer.readU64("leader")
        let term = try buffer.readU64("term")
        let commit = try buffer.readU64("commit")
        let applied = try buffer.readU64("applied")
        var followers: [GroupStatus.FollowerProgress] = []
        for _ in 0..<(try count(&buffer, "follower count", minimumItemBytes: 16)) {
            followers.append(
                GroupStatus.FollowerProgress(
                    node: try buffer.readU64("follower"),
                    matchIndex: try buffer.readU64("match")
                )
            )
        }
        var status = GroupStatus(
            groupID: groupID,
            queue: queue,
            partition: partition,
            leader: leader,
            term: term,
            commitIndex: commit,
            appliedIndex: applied,
            followers: followers
        )
        var lists: [[UInt64]] = []
        for field in ["voters", "learners"] {
            var list: [UInt64] = []
            for _ in 0..<(try count(&buffer, field, minimumItemBytes: 8)) { list.append(try buffer.readU64(field)) }
            lists.append(list)
        }
        (status.voters, status.learners) = (lists[0], lists[1])
        switch try buffer.readU8("repairing") {
        case 0: status.repairing = false
        case 1: status.repairing = true
        case let other: throw WireDecodeError.invalidValue(field: "repairing", value: UInt64(other))
        }
        return status
    }
}
