/// The documents of the status API (`/status/v1/…`), as JSON. Field names are the API's contract (README,
/// "Status API"): add fields, never rename or remove one.
public enum StatusReports {
    /// `GET /status/v1/whoami`: the key that signed the request.
    public struct Identity: Codable, Sendable, Equatable {
        public var keyID: String
        public var account: String
        /// A read-only key sees everything the status API shows and may call only the SQS API's read actions.
        public var readOnly: Bool
        /// The node that answered.
        public var node: UInt64
    }

    /// `GET /status/v1/cluster`.
    public struct Cluster: Codable, Sendable {
        public var clusterID: String
        /// The node that answered (and asked the others).
        public var servedBy: UInt64
        public var nodes: [Node]
        public var partitions: [Partition]
        /// Leadership changes the nodes remember, newest first (each node keeps its last 64).
        public var leadershipChanges: [LeadershipChange]
    }

    public struct Node: Codable, Sendable {
        public var id: UInt64
        public var address: String
        public var httpPort: UInt16
        /// False when the node did not answer within the status API's timeout.
        public var reachable: Bool
        /// `ok`, `storage full: …`, `slow disk`, `unreachable`.
        public var health: String
        public var fsync: String
        /// Groups this node leads, and groups it follows (replicas that are not the leader).
        public var leaderOf: Int
        public var followerOf: Int
        public var repairing: Int
        /// Median and largest of the node's last group commits (fsync), in microseconds; 0 when none yet.
        public var fsyncMedianMicros: Int64
        public var fsyncMaxMicros: Int64
        /// The file system of the node's data directory; 0 when unknown (a node of an older version).
        public var diskTotalBytes: UInt64
        public var diskFreeBytes: UInt64
        /// When the node's TLS certificate expires (seconds since the epoch); 0 with plain ports.
        public var tlsNotAfter: Int64
    }

    public struct Partition: Codable, Sendable {
        public var queue: String
        public var partition: UInt32
        public var group: UInt64
        public var replicas: [UInt64]
        /// 0 when no node reports a leader.
        public var leader: UInt64
        public var term: UInt64
        public var commitIndex: UInt64
        public var appliedIndex: UInt64
        public var followers: [Follower]
    }

    public struct Follower: Codable, Sendable {
        public var node: UInt64
        public var matchIndex: UInt64
        /// Entries behind the leader's commit index.
        public var lag: UInt64
    }

    public struct LeadershipChange: Codable, Sendable, Hashable {
        public var group: UInt64
        /// Queue and partition of the group; empty queue for the metadata group.
        public var queue: String
        public var partition: UInt32
        public var term: UInt64
        /// The new leader; 0 when the group lost its leader (an election began).
        public var leader: UInt64
        /// Wall clock of the reporting node, ms since the epoch.
        public var atMs: Int64
        public var reportedBy: UInt64
    }

    /// `GET /status/v1/queues`: every queue, with its figures summed over its partitions.
    public struct Queues: Codable, Sendable {
        public var queues: [Queue]
    }

    public struct Queue: Codable, Sendable {
        public var name: String
        public var fifo: Bool
        public var partitions: UInt32
        /// SQS's ApproximateNumberOfMessages, …NotVisible, …Delayed.
        public var visible: Int
        public var inFlight: Int
        public var delayed: Int
        /// Age of the oldest message, seconds (SQS's ApproximateAgeOfOldestMessage); 0 when empty.
        public var oldestAgeSeconds: Int64
        /// FIFO groups with messages, and those of them blocked by a message in flight.
        public var groups: Int
        public var groupsWithInFlight: Int
        /// Totals since the queue was created.
        public var sent: UInt64
        public var received: UInt64
        public var deleted: UInt64
        public var deadLettered: UInt64
        /// The redrive policy's target and maxReceiveCount, when the queue has one.
        public var deadLetterQueue: String?
        public var maxReceiveCount: Int?
        /// Queues whose redrive policy names this one (it is their dead-letter queue).
        public var deadLetterSources: [String]
        /// Figures could not be read (a partition without a leader); the others are from the metadata.
        public var error: String?
    }

    /// `GET /status/v1/queues/<name>`: the queue, its redrives and its history.
    public struct QueueDetail: Codable, Sendable {
        public var queue: Queue
        /// Message move tasks (redrives) out of this queue, newest first.
        public var moveTasks: [MoveTask]
        /// Samples of the last hour, oldest first (`QueueHistory`).
        public var history: [HistoryPoint]
    }

    public struct MoveTask: Codable, Sendable {
        public var taskHandle: String
        /// `RUNNING`, `COMPLETED`, `CANCELLED` (SQS's names).
        public var status: String
        public var destination: String?
        public var startedAtMs: Int64
        public var messagesToMove: Int
        public var messagesMoved: Int
        public var messagesSkipped: Int
    }

    public struct HistoryPoint: Codable, Sendable, Equatable {
        /// Wall clock, ms since the epoch.
        public var atMs: Int64
        public var visible: Int
        public var inFlight: Int
        /// Per second since the previous point (0 for the first).
        public var sentPerSecond: Double
        public var receivedPerSecond: Double
        public var deletedPerSecond: Double
    }

    /// `GET /status/v1/queues/<name>/messages`: a peek at the queue's first messages (oldest sent first, at most
    /// 20), which changes nothing. Refused to read-only keys: bodies are what only receiving shows in SQS.
    public struct Peek: Codable, Sendable {
        public var messages: [PeekedMessage]
    }

    public struct PeekedMessage: Codable, Sendable {
        /// The id SQS gives the message.
        public var messageId: String
        public var groupId: String?
        public var sentAtMs: Int64
        public var receiveCount: UInt32
        /// In flight now (received and not deleted, its visibility timeout running).
        public var inFlight: Bool
        /// The body as UTF-8 text (invalid sequences replaced), cut at 4 KiB.
        public var body: String
    }

    /// `GET /status/v1/queues/<name>/groups`: the FIFO groups with the most messages (at most 20), across the
    /// queue's partitions. Asked on demand (each partition walks all its groups).
    public struct Groups: Codable, Sendable {
        public var groups: [Group]
    }

    public struct Group: Codable, Sendable {
        public var groupId: String
        /// Its messages (visible, in flight, delayed).
        public var messages: Int
        /// In flight now; while one is, the group's next message waits.
        public var inFlight: Int
        /// Age of its oldest message, seconds.
        public var oldestAgeSeconds: Int64
    }

    /// An error document: `{"error": {"code": …, "message": …}}`.
    public struct Failure: Codable, Sendable {
        public struct Body: Codable, Sendable {
            public var code: String
            public var message: String
        }
        public var error: Body
    }
}
