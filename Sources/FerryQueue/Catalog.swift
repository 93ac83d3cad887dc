import FerryModel
import NIOCore

/// One partition of a queue: its Raft group, the nodes that replicate it, and the node that should lead it
/// (leadership is moved back there by transfer when it returns).
public struct CatalogPartition: Sendable, Hashable {
    public var partition: UInt32
    public var groupID: UInt64
    /// The voters the group should have: the group's leader moves its membership here one server at a time
    /// (learner, caught up, voter, then the replica that is no longer wanted leaves).
    public var replicas: [UInt64]
    public var preferredLeader: UInt64
    /// The voters the group was created with (never changes): a node among them that has not left the group
    /// since opens it, when it has no log for it yet, with this membership; any other node opens it empty and
    /// joins as a learner. (Opening with any other membership could let two disjoint majorities decide.)
    public var createdReplicas: [UInt64]
    /// Nodes of `createdReplicas` that have left the wanted replicas since (sorted).
    public var departed: [UInt64] = []

    /// The membership a node opens this group with when it has no log for it: the created one, or none (join).
    public func initialMembership(for node: UInt64) -> [UInt64] {
        createdReplicas.contains(node) && !departed.contains(node) ? createdReplicas : []
    }
}

public struct CatalogQueue: Sendable, Hashable {
    public var name: String
    /// Never reused, so message ids of a deleted queue never come back.
    public var id: UInt64
    public var attributes: QueueAttributes
    public var partitions: [CatalogPartition]
    public var createdAtMs: Int64
    /// The entry time of the last attribute change (SQS `LastModifiedTimestamp`); creation counts.
    public var modifiedAtMs: Int64

    public var kind: QueueKind { QueueName.kind(of: name) }
}

/// A change to the catalog: the payload of the metadata group's entries.
public enum CatalogCommand: Sendable, Hashable {
    /// The first entry of a cluster: its id and its voting nodes.
    case bootstrap(clusterID: String, nodes: [CatalogNode])
    case createQueue(name: String, partitions: UInt32, attributes: QueueAttributes)
    case deleteQueue(name: String)
    case setAttributes(name: String, attributes: QueueAttributes)
    /// A new producer id, epoch 0.
    case allocateProducer
    /// The next epoch of an existing producer (fences the older instance).
    case bumpProducerEpoch(UInt64)
    /// A node joins; replicas are rebalanced onto it.
    case addNode(CatalogNode)
    /// A node leaves: its replicas move to the other nodes; once no group counts it as a member it is forgotten.
    case removeNode(UInt64)
    /// A node (whose disk was lost, say) is replaced by a new one under a new id: each of its replicas moves to it.
    case replaceNode(old: UInt64, new: CatalogNode)
    /// One replica of one partition moves from one node to another.
    case movePartition(name: String, partition: UInt32, from: UInt64, to: UInt64)
    /// A leaving node that no group counts as a member any more is forgotten; its id is never used again.
    case forgetNode(UInt64)
    /// `ferry auth`: create, revoke or rotate an access key.
    case changeKeys(KeyChange)
}

public enum CatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    case alreadyBootstrapped
    case notBootstrapped
    case queueNotFound(String)
    /// SQS: a create with the name of an existing queue but other attributes.
    case queueAlreadyExists(String)
    case invalid(QueueError)
    case invalidPartitionCount(UInt32)
    /// A redrive policy names a dead-letter queue that does not exist or does not allow this source.
    case deadLetterQueueRefused(String)
    case unknownProducer(UInt64)
    case invalidNodes(String)
    case nodeNotFound(UInt64)
    case partitionNotFound(String, UInt32)
    case keyExists(String)
    case keyNotFound(String)
    case invalidKey(String)

    public var description: String {
        switch self {
        case .alreadyBootstrapped: return "the cluster is already bootstrapped"
        case .notBootstrapped: return "the cluster is not bootstrapped"
        case .queueNotFound(let name): return "queue \(name) does not exist"
        case .queueAlreadyExists(let name): return "queue \(name) exists with other attributes"
        case .invalid(let error): return error.description
        case .invalidPartitionCount(let count): return "\(count) partitions: a queue takes 1…\(Catalog.maxPartitions)"
        case .deadLetterQueueRefused(let reason): return "dead-letter queue refused: \(reason)"
        case .unknownProducer(let id): return "producer \(id) was never allocated"
        case .invalidNodes(let reason): return "invalid nodes: \(reason)"
        case .nodeNotFound(let id): return "node \(id) is not in the cluster"
        case .partitionNotFound(let name, let partition): return "queue \(name) has no partition \(partition)"
        case .keyExists(let id): return "access key \(id) exists"
        case .keyNotFound(let id): return "access key \(id) does not exist"
        case .invalidKey(let reason): return "invalid access key: \(reason)"
        }
    }
}

public enum CatalogResult: Sendable, Hashable {
    case bootstrapped
    case queueCreated(CatalogQueue)
    /// An identical create repeated (SQS answers it with the existing queue).
    case queueExists(CatalogQueue)
    case queueDeleted(CatalogQueue)
    case attributesSet(CatalogQueue)
    case producer(id: UInt64, epoch: UInt32)
    /// Nodes or wanted replicas changed (`addNode`, `removeNode`, `replaceNode`, `movePartition`, `forgetNode`).
    case placementChanged
    /// A key created, revoked or rotated (its secrets not included).
    case keyChanged(AccessKeyInfo)
    case rejected(CatalogError)
}

/// The metadata group's state machine (DESIGN §2): cluster id and nodes, the queue catalog with each
/// partition's Raft group, replicas and preferred leader, and producer-id allocation. Pure and deterministic
/// like `QueuePartition`: every metadata replica applies the same entries to the same state.
///
/// Placement: a partition's preferred leader is the node that prefers the fewest partitions so far (lowest id
/// on ties); its replicas are that node and the next `replicationFactor − 1` nodes in id order, so leaders and
/// replicas spread evenly as queues are created.
public struct Catalog: Sendable, Hashable {
    public static let maxPartitions: UInt32 = 256
    public static let defaultPartitions: UInt32 = 4
    /// The metadata group's own Raft group id; partition groups count up from `firstPartitionGroup`.
    public static let metadataGroup: UInt64 = 1
    public static let firstPartitionGroup: UInt64 = 2

    public internal(set) var clusterID = ""
    public internal(set) var nodes: [CatalogNode] = []
    /// Nodes being removed (sorted): no replica is placed on them and theirs move away.
    public internal(set) var leaving: [UInt64] = []
    /// Ids of forgotten nodes (sorted): never given to a node again.
    public internal(set) var retiredNodeIDs: [UInt64] = []
    /// The voters the metadata group should have: up to five active nodes.
    public internal(set) var metadataVoters: [UInt64] = []
    public internal(set) var queues: [String: CatalogQueue] = [:]
    public internal(set) var appliedIndex: UInt64 = 0
    var nextQueueID: UInt64 = 1
    var nextGroupID: UInt64 = Catalog.firstPartitionGroup
    var producers: [UInt64: UInt32] = [:]
    var nextProducerID: UInt64 = 1
    /// Access keys by id (`ferry auth`): the SQS API and the native handshake verify against them.
    public internal(set) var keys: [String: AccessKey] = [:]

    public init() {}

    /// Nodes that are not leaving, in id order: where replicas go.
    public var activeNodes: [CatalogNode] { nodes.filter { !leaving.contains($0.id) } }

    /// min(3, active nodes).
    public var replicationFactor: Int { min(3, activeNodes.count) }

    /// Queues by name, in name order.
    public var sortedQueues: [CatalogQueue] { queues.keys.sorted().map { queues[$0]! } }

    public mutating func apply(index: UInt64, timestampMs: Int64, command: CatalogCommand) -> CatalogResult {
        precondition(index > appliedIndex, "applying \(index) after \(appliedIndex)")
        appliedIndex = index
        do {
            return try run(command, atMs: timestampMs)
        } catch {
            return .rejected(error)
        }
    }

    private mutating func run(_ command: CatalogCommand, atMs: Int64) throws(CatalogError) -> CatalogResult {
        if case .bootstrap(let clusterID, let nodes) = command {
            guard self.nodes.isEmpty else { throw .alreadyBootstrapped }
            guard !clusterID.isEmpty, !nodes.isEmpty else { throw .invalidNodes("a cluster id and one node at least") }
            guard Set(nodes.map(\.id)).count == nodes.count, !nodes.contains(where: { $0.id == 0 }) else {
                throw .invalidNodes("node ids must be distinct and non-zero")
            }
            self.clusterID = clusterID
            self.nodes = nodes.sorted { $0.id < $1.id }
            metadataVoters = self.nodes.map(\.id)
            return .bootstrapped
        }
        guard !nodes.isEmpty else { throw .notBootstrapped }
        switch command {
        case .bootstrap:
            preconditionFailure("handled above")
        case .createQueue(let name, let partitionCount, let attributes):
            do {
                try QueueName.validate(name)
                try attributes.validate(for: QueueName.kind(of: name))
            } catch {
                throw .invalid(error)
            }
            if let existing = queues[name] {
                guard existing.attributes.sameSettings(as: attributes),
                    existing.partitions.count == Int(partitionCount)
                else {
                    throw .queueAlreadyExists(name)
                }
                return .queueExists(existing)
            }
            guard (1...Self.maxPartitions).contains(partitionCount) else {
                throw .invalidPartitionCount(partitionCount)
            }
            try checkRedrive(source: name, attributes)
            let queue = CatalogQueue(
                name: name,
                id: nextQueueID,
                attributes: attributes,
                partitions: place(partitionCount),
                createdAtMs: atMs,
                modifiedAtMs: atMs
            )
            nextQueueID += 1
            queues[name] = queue
            return .queueCreated(queue)
        case .deleteQueue(let name):
            guard let queue = queues.removeValue(forKey: name) else { throw .queueNotFound(name) }
            return .queueDeleted(queue)
        case .setAttributes(let name, let attributes):
            guard var queue = queues[name] else { throw .queueNotFound(name) }
            do {
                try attributes.validate(for: queue.kind)
            } catch {
                throw .invalid(error)
            }
            try checkRedrive(source: name, attributes)
            queue.attributes = attributes
            queue.modifiedAtMs = atMs
            queues[name] = queue
            return .attributesSet(queue)
        case .allocateProducer:
            let id = nextProducerID
            nextProducerID += 1
            producers[id] = 0
            return .producer(id: id, epoch: 0)
        case .bumpProducerEpoch(let id):
            guard let epoch = producers[id] else { throw .unknownProducer(id) }
            producers[id] = epoch &+ 1
            return .producer(id: id, epoch: epoch &+ 1)
        case .addNode, .removeNode, .replaceNode, .movePartition, .forgetNode:
            try changeNodes(command)
            return .placementChanged
        case .changeKeys(let change):
            return .keyChanged(try changeKeys(change, atMs: atMs))
        }
    }

    private mutating func changeKeys(_ change: KeyChange, atMs: Int64) throws(CatalogError) -> AccessKeyInfo {
        switch change {
        case .create(let id, let secret, let account, let admin):
            if let problem = AccessKey.problem(id: id, secret: secret, account: account) { throw .invalidKey(problem) }
            guard keys[id] == nil else { throw .keyExists(id) }
            let key = AccessKey(id: id, secret: secret, account: account, admin: admin, createdAtMs: atMs)
            keys[id] = key
            return key.info
        case .revoke(let id):
            guard let key = keys.removeValue(forKey: id) else { throw .keyNotFound(id) }
            return key.info
        case .rotate(let id, let secret, let graceMs):
            guard var key = keys[id] else { throw .keyNotFound(id) }
            if let problem = AccessKey.problem(id: id, secret: secret, account: key.account) {
                throw .invalidKey(problem)
            }
            guard (0...7 * 86_400_000).contains(graceMs) else { throw .invalidKey("grace 0…7 days") }
            key.previousSecret = key.secret
            key.previousUntilMs = atMs + graceMs
            key.secret = secret
            keys[id] = key
            return key.info
        }
    }

    /// SQS: the dead-letter queue must exist, be of the same kind, and allow this source.
    private func checkRedrive(source: String, _ attributes: QueueAttributes) throws(CatalogError) {
        guard let target = attributes.redrivePolicy?.deadLetterQueue else { return }
        guard target != source else { throw .deadLetterQueueRefused("a queue cannot be its own dead-letter queue") }
        guard let dlq = queues[target] else { throw .deadLetterQueueRefused("\(target) does not exist") }
        switch dlq.attributes.redriveAllowPolicy {
        case nil, .allowAll?: return
        case .denyAll?: throw .deadLetterQueueRefused("\(target) allows no source queues")
        case .byQueue(let sources)?:
            guard sources.contains(source) else { throw .deadLetterQueueRefused("\(target) does not list \(source)") }
        }
    }

    /// Places `count` new partitions: fewest preferred leaderships first, replicas following in id order.
    private mutating func place(_ count: UInt32) -> [CatalogPartition] {
        let nodes = activeNodes
        var preferred: [UInt64: Int] = [:]
        for node in nodes { preferred[node.id] = 0 }
        for queue in queues.values {
            for partition in queue.partitions where preferred[partition.preferredLeader] != nil {
                preferred[partition.preferredLeader]! += 1
            }
        }
        var placed: [CatalogPartition] = []
        for number in 0..<count {
            let leaderAt = nodes.indices.min {
                (preferred[nodes[$0].id]!, nodes[$0].id) < (preferred[nodes[$1].id]!, nodes[$1].id)
            }!
            let replicas = (0..<replicationFactor).map { nodes[(leaderAt + $0) % nodes.count].id }
            preferred[nodes[leaderAt].id]! += 1
            placed.append(
                CatalogPartition(
                    partition: number,
                    groupID: nextGroupID,
                    replicas: replicas,
                    preferredLeader: nodes[leaderAt].id,
                    createdReplicas: replicas
                )
            )
            nextGroupID += 1
        }
        return placed
    }

    /// The queue and partition a Raft group serves, if it is a partition group.
    public func partition(ofGroup groupID: UInt64) -> (queue: CatalogQueue, partition: CatalogPartition)? {
        for queue in queues.values {
            if let partition = queue.partitions.first(where: { $0.groupID == groupID }) { return (queue, partition) }
        }
        return nil
    }

    /// The partition of a message group (`PartitionHash.partition(forGroup:partitions:)`).
    public static func partition(forGroup groupID: String, partitions: UInt32) -> UInt32 {
        PartitionHash.partition(forGroup: groupID, partitions: partitions)
    }
}
