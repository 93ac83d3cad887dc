/// A node of the cluster: its id and addresses. A node's config lists the members as these (`MemberConfig`,
/// with the YAML keys below), the catalog records them, and clients are told them.
public struct CatalogNode: Sendable, Hashable, Codable {
    public var id: UInt64
    public var host: String
    public var peerPort: UInt16
    public var clientPort: UInt16
    public var httpPort: UInt16

    public init(id: UInt64, host: String, peerPort: UInt16, clientPort: UInt16, httpPort: UInt16) {
        self.id = id
        self.host = host
        self.peerPort = peerPort
        self.clientPort = clientPort
        self.httpPort = httpPort
    }

    /// As `node.yaml` spells a member.
    enum CodingKeys: String, CodingKey {
        case id
        case host
        case peerPort = "peer_port"
        case clientPort = "client_port"
        case httpPort = "http_port"
    }
}

/// A change to the cluster's nodes, or to where one partition's replicas are (`ferry cluster add-node`,
/// `remove-node`, `replace-node`, `move-partition`). The metadata group records what is wanted; each group's
/// leader then moves its membership there one server at a time.
public enum ClusterChange: Sendable, Hashable {
    case addNode(CatalogNode)
    case removeNode(UInt64)
    /// `new` takes each replica of `old` (whose disk was lost, say): a new id, never an old one.
    case replaceNode(old: UInt64, new: CatalogNode)
    case movePartition(queue: String, partition: UInt32, from: UInt64, to: UInt64)
}

/// Which partition a message group's messages go to: clients and nodes compute it the same way.
public enum PartitionHash {
    /// The partition of a message group: `stableHash(groupID) mod partitions` (DESIGN §2) with FNV-1a 64 over
    /// the group id's UTF-8 bytes — written down here because changing it would reorder groups.
    public static func partition(forGroup groupID: String, partitions: UInt32) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in groupID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return UInt32(hash % UInt64(max(1, partitions)))
    }
}
