import FerryModel
import NIOCore

/// A node as clients see it: the catalog's record of it (id and the addresses it listens on).
public typealias NodeDescription = CatalogNode

/// A queue in the catalog.
public struct QueueDescription: Sendable, Hashable {
    public var name: String
    public var id: UInt64
    public var partitions: UInt32
    public var attributes: QueueAttributes
    /// Entry times (wall clock, ms) of the queue's creation and of its last attribute change.
    public var createdAtMs: Int64
    public var modifiedAtMs: Int64

    public init(
        name: String,
        id: UInt64,
        partitions: UInt32,
        attributes: QueueAttributes,
        createdAtMs: Int64 = 0,
        modifiedAtMs: Int64 = 0
    ) {
        self.name = name
        self.id = id
        self.partitions = partitions
        self.attributes = attributes
        self.createdAtMs = createdAtMs
        self.modifiedAtMs = modifiedAtMs
    }
}

/// One partition's Raft group: where it lives and who leads it (as far as the answering node knows).
public struct PartitionDescription: Sendable, Hashable {
    public var queueID: UInt64
    public var partition: UInt32
    public var groupID: UInt64
    public var replicas: [UInt64]
    /// 0 when unknown.
    public var leader: UInt64
    public var term: UInt64

    public init(queueID: UInt64, partition: UInt32, groupID: UInt64, replicas: [UInt64], leader: UInt64, term: UInt64) {
        self.queueID = queueID
        self.partition = partition
        self.groupID = groupID
        self.replicas = replicas
        self.leader = leader
        self.term = term
    }
}

/// What a client caches to route requests: nodes, queues and partition leaders.
public struct ClusterDescription: Sendable, Hashable {
    public var clusterID: String
    public var nodes: [NodeDescription]
    public var queues: [QueueDescription]
    public var partitions: [PartitionDescription]

    public init(
        clusterID: String,
        nodes: [NodeDescription],
        queues: [QueueDescription],
        partitions: [PartitionDescription]
    ) {
        self.clusterID = clusterID
        self.nodes = nodes
        self.queues = queues
        self.partitions = partitions
    }
}

/// One Raft group on the answering node (`ferry cluster status`).
public struct GroupStatus: Sendable, Hashable {
    public var groupID: UInt64
    /// Empty for the metadata group.
    public var queue: String
    public var partition: UInt32
    public var leader: UInt64
    public var term: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    /// Leader only: each follower's match index.
    public var followers: [FollowerProgress]
    /// The group's membership in effect on the answering node (protocol 4).
    public var voters: [UInt64] = []
    public var learners: [UInt64] = []
    /// This replica repairs after storage damage (protocol 5): it does not vote and is not counted toward commit.
    public var repairing = false

    public struct FollowerProgress: Sendable, Hashable {
        public var node: UInt64
        public var matchIndex: UInt64

        public init(node: UInt64, matchIndex: UInt64) {
            self.node = node
            self.matchIndex = matchIndex
        }
    }

    public init(
        groupID: UInt64,
        queue: String,
        partition: UInt32,
        leader: UInt64,
        term: UInt64,
        commitIndex: UInt64,
        appliedIndex: UInt64,
        followers: [FollowerProgress]
    ) {
        self.groupID = groupID
        self.queue = queue
        self.partition = partition
        self.leader = leader
        self.term = term
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.followers = followers
    }
}

/// The answering node's view of itself.
public struct NodeStatus: Sendable, Hashable {
    public var nodeID: UInt64
    /// The fsync policy as configured (`always`, `interval:<ms>`, `never`), reported so nobody mistakes an
    /// opt-out for the default.
    public var fsync: String
    public var groups: [GroupStatus]
    /// When the node's TLS certificate expires (seconds since the epoch); 0 when its ports are plain.
    public var tlsNotAfter: Int64
    /// Why the node refuses writes now (protocol 5): its disk is full. Empty when it does not.
    public var storageFull = ""

    public init(nodeID: UInt64, fsync: String, groups: [GroupStatus], tlsNotAfter: Int64 = 0) {
        self.nodeID = nodeID
        self.fsync = fsync
        self.groups = groups
        self.tlsNotAfter = tlsNotAfter
    }
}

/// A request of the native client protocol (DESIGN §6). Requests for a partition go to its leader; any node
/// answers metadata requests (forwarding writes to the metadata leader).
public enum ClientRequest: Sendable, Hashable {
    case hello(client: String)
    case describeCluster
    case createQueue(name: String, partitions: UInt32, attributes: QueueAttributes)
    case deleteQueue(name: String)
    case listQueues(prefix: String)
    case setQueueAttributes(name: String, attributes: QueueAttributes)
    /// Purges one partition (the client purges each partition at its leader).
    case purgeQueue(name: String, partition: UInt32)
    case send(queue: String, partition: UInt32, requests: [SendRequest])
    /// Long poll: the node answers when messages are available or after `waitMs`.
    case receive(queue: String, partition: UInt32, request: ReceiveRequest, waitMs: UInt32)
    case delete(queue: String, partition: UInt32, handles: [ReceiptHandle])
    case changeVisibility(queue: String, partition: UInt32, changes: [VisibilityChange])
    /// A new producer session: a cluster-wide producer id, epoch 0 (or the next epoch of `producerID`).
    case initProducer(producerID: UInt64?)
    case sendStatus(queue: String, partition: UInt32, deduplicationID: String, groupID: String?)
    case nodeStatus
    /// The answering node's health for the console (`NodeHealth`); a node before issue 20 refuses the kind.
    case nodeHealth
    /// A partition's `QueueStatistics` (SQS's Approximate* numbers), answered by its leader.
    case queueStatistics(queue: String, partition: UInt32)
    /// Up to `maxMessages` (1…`peekLimit`) of a partition's messages, read at its leader without changing them
    /// (answered `received`, handles that delete nothing; the console's peek). Kind 29, since issue 20.
    case peekMessages(queue: String, partition: UInt32, maxMessages: UInt32)
    /// The partition's FIFO groups with the most messages, at most `maxGroups` (1…`peekLimit`), read at its
    /// leader (answered `groups`). Kind 30, since issue 20.
    case groupBacklog(queue: String, partition: UInt32, maxGroups: UInt32)
    /// A Raft group's state on the node that receives it: its applied index and a digest of its application
    /// state (replicas at the same applied index must answer the same digest; the chaos checker compares them).
    case groupDigest(groupID: UInt64)
    /// Starts a redrive on one partition of a (dead-letter) queue; the client starts one per partition with
    /// the same task id.
    case startMoveTask(queue: String, partition: UInt32, request: MoveTaskRequest)
    /// Cancels the partition's running redrive named `taskID`.
    case cancelMoveTask(queue: String, partition: UInt32, taskID: String)
    /// The partition's running and most recent finished redrives, newest first.
    case listMoveTasks(queue: String, partition: UInt32)
    /// Waits (changing nothing) until a receive on the partition would deliver: answered `done` then, or
    /// `received([])` after `waitMs`. Lets a client long-poll every partition at once and receive only where
    /// messages are, so nothing is taken into flight by a poll whose answer nobody reads.
    case awaitMessages(queue: String, partition: UInt32, waitMs: UInt32)
    /// How many messages a receive of up to `maxMessages` would hand out now (changing nothing), answered
    /// `deliverable` at once, or, when that is none and `waitMs` > 0, as soon as there is some or the time is up.
    /// With `requestAttemptID`, also how many the earlier receive with that id would hand out again. A client
    /// filling one batch from several partitions asks each first, then receives only what each can give.
    case summarizeDeliverable(
        queue: String,
        partition: UInt32,
        maxMessages: UInt16,
        requestAttemptID: String?,
        waitMs: UInt32
    )
    /// A receive made only if it fills its whole batch: when a receive of `request.maxMessages` would hand out
    /// that many now (by the partition's applied state), it is made and answered `received`, like `receive`
    /// with no wait; otherwise nothing changes and the answer is `deliverable`, what a receive could hand out.
    /// A client fills a batch from one partition in one round trip when that partition has enough, and never
    /// takes into flight more than it returns. Receives with a request attempt id are refused (`invalidArgument`):
    /// a retried attempt must go where the attempt is remembered.
    case receiveIfFull(queue: String, partition: UInt32, request: ReceiveRequest)
    /// A change to the cluster's nodes or a partition's replicas, recorded by the metadata group (answered `done`
    /// once recorded; the groups move their replicas after). Protocol 4.
    case changeCluster(ClusterChange)
    /// `ferry auth`: create, revoke or rotate a key in the metadata group (answered `keys` with the key's
    /// description once recorded; secrets never come back).
    case changeKeys(KeyChange)
    /// The cluster's keys without their secrets.
    case listKeys
    /// Authentication of the connection, first step: the key that will sign (answered `authChallenge`).
    case authBegin(keyID: String)
    /// Second step: the client's nonce and the proof, hex HMAC-SHA256 under the key's secret of
    /// `NativeAuthProof.message` (answered `authenticated`, or `unauthorized`).
    case authProve(clientNonce: String, proof: String)
}

extension ClientRequest {
    /// The request's kind, e.g. `send` (for log lines: never its contents).
    public var kindName: String { Mirror(reflecting: self).children.first?.label ?? String(describing: self) }
}

/// The answer to one request, matched by correlation id.
public enum ClientResponse: Sendable, Hashable {
    case hello(nodeID: UInt64, clusterID: String, protocolVersion: UInt16)
    case cluster(ClusterDescription)
    case queue(QueueDescription)
    case queues([QueueDescription])
    case done
    case sent([Result<SendOutcome, WireError>])
    case received([Delivery])
    case deleted([Result<DeleteOutcome, WireError>])
    case visibilityChanged([Result<Int64, WireError>])
    case producer(id: UInt64, epoch: UInt32)
    case sendStatus(SendStatus)
    case nodeStatus(NodeStatus)
    case nodeHealth(NodeHealth)
    /// FIFO groups with a backlog (kind 22): `count u16 | (group string | messages u32 | in flight u32 |
    /// oldest sent at i64)*`.
    case groups([GroupBacklog])
    case error(WireError)
    /// A partition's statistics and the leader's entry time they were read at.
    case statistics(QueueStatistics, nowMs: Int64)
    /// FNV-1a 64 of the group's application snapshot bytes at `applied` (0, 0: no such group here).
    case digest(applied: UInt64, digest: UInt64)
    /// Move tasks of one partition (one for start and cancel), newest first.
    case moveTasks([MoveTaskStatus])
    /// The answer to `summarizeDeliverable`.
    case deliverable(DeliverableSummary)
    /// Keys without their secrets (`changeKeys`, `listKeys`).
    case keys([AccessKeyInfo])
    /// A fresh nonce (hex) for this connection's proof.
    case authChallenge(nonce: String)
    /// The connection acts for this key from now on.
    case authenticated(keyID: String, account: String, admin: Bool)
}

/// The native protocol's challenge–response (no secret on the wire): the client proves it holds the key's
/// secret by an HMAC-SHA256 over the server's fresh nonce (so a proof is good on one connection only) and its own.
public enum NativeAuthProof {
    public static func message(keyID: String, serverNonce: String, clientNonce: String) -> [UInt8] {
        Array("ferry-native-auth-1\n\(keyID)\n\(serverNonce)\n\(clientNonce)".utf8)
    }
}
