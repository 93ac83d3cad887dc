import FerryModel
@_exported import FerryNet
@_exported import FerryRouter
import FerryTLS
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The Swift client (DESIGN §3): blocking calls, safe from any thread but an event loop, over the one
/// `PartitionRouter` (metadata cache, leader routing, `notLeader` hints, retries until a deadline) speaking the
/// native protocol to the nodes' client ports.
///
/// A message group's partition is `PartitionHash.partition(forGroup:partitions:)`, the same hash the cluster writes
/// down; messages without a group (standard queues) go round-robin.
public final class FerryClient: @unchecked Sendable {
    public typealias Options = RouterOptions

    public var options: Options { router.options }
    let transport: NetTransport
    /// Shared with `ProducerSession`, which pipelines its own batches on the leaders' connections.
    let router: PartitionRouter
    /// The router's tasks run here: a caller blocking cooperative threads cannot stall them.
    private let executor = ThreadTaskExecutor()

    /// - Parameters:
    ///   - endpoints: `host:port` client addresses of some nodes (more are learned from metadata).
    ///   - tls: TLS to the client ports (the cluster's CA), when the cluster uses it.
    ///   - credentials: the access key each connection proves, when the client ports want one (`client_auth: keys`).
    public init(
        endpoints: [String],
        options: Options = Options(),
        tls: ClientTLS? = nil,
        credentials: Credentials? = nil
    ) throws(FerryClientError) {
        var seeds: [(String, Int)] = []
        for endpoint in endpoints {
            let parts = endpoint.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), port > 0 else { throw .badEndpoint(endpoint) }
            seeds.append((String(parts[0]), port))
        }
        guard !seeds.isEmpty else { throw .badEndpoint("(none)") }
        transport = NetTransport(seeds: seeds, security: tls.map(Self.security), credentials: credentials)
        router = PartitionRouter(transport: transport, options: options)
    }

    deinit {
        transport.shutdown()
        executor.shutdown()
    }

    /// Runs the router's `body` and waits for it.
    func run<T: Sendable>(
        _ body: @escaping @Sendable (PartitionRouter) async throws(FerryClientError) -> T
    ) throws(FerryClientError) -> T {
        let router = router
        return try executor.wait { () async throws(FerryClientError) -> T in try await body(router) }
    }

    static func nowMs() -> Int64 { PartitionRouter.nowMs() }

    /// The connection hook of `tls`.
    public static func security(_ tls: ClientTLS) -> ConnectionSecurity {
        ConnectionSecurity(secure: { channel, host in try tls.secure(channel, host: host) }, refusal: ClientTLS.refusal)
    }

    static func expect<T>(_ response: ClientResponse, _ pick: (ClientResponse) -> T?) throws(FerryClientError) -> T {
        try PartitionRouter.expect(response, pick)
    }

    // MARK: Routing (for ProducerSession)

    /// Sends `request` to any node, following hints and retrying until the retry deadline.
    func call(_ request: ClientRequest) throws(FerryClientError) -> ClientResponse {
        try run { router async throws(FerryClientError) in try await router.call(request) }
    }

    func queue(_ name: String) throws(FerryClientError) -> QueueDescription {
        try run { router async throws(FerryClientError) in try await router.queue(name) }
    }

    /// Where a partition's requests go now (see `PartitionRouter.route`), as a client address.
    func route(_ queue: QueueDescription, _ partition: UInt32, attempt: Int) -> (groupID: UInt64?, node: (String, Int))
    {
        let route = router.route(queue, partition, attempt: attempt)
        return (route.groupID, transport.endpoint(route.target))
    }

    func noteLeader(group groupID: UInt64, node: UInt64) { router.noteLeader(group: groupID, node: node) }

    func connection(_ host: String, _ port: Int) throws(FerryClientError) -> Connection {
        try transport.connection(host, port)
    }

    // MARK: Metadata and queues

    /// Refreshes and returns the cluster's metadata.
    @discardableResult
    public func describe() throws(FerryClientError) -> ClusterDescription {
        try run { router async throws(FerryClientError) in try await router.describe() }
    }

    /// Creates a queue (or answers the existing one when its settings are the same).
    public func createQueue(
        _ name: String,
        partitions: UInt32 = 4,
        attributes: QueueAttributes = QueueAttributes()
    ) throws(FerryClientError) -> QueueDescription {
        try run { router async throws(FerryClientError) in
            try await router.createQueue(name, partitions: partitions, attributes: attributes)
        }
    }

    public func listQueues(prefix: String = "") throws(FerryClientError) -> [QueueDescription] {
        try run { router async throws(FerryClientError) in try await router.listQueues(prefix: prefix) }
    }

    /// Records a change to the cluster's nodes or a partition's replicas (`PartitionRouter.changeCluster`).
    public func changeCluster(_ change: ClusterChange) throws(FerryClientError) {
        try run { router async throws(FerryClientError) in try await router.changeCluster(change) }
    }

    /// Creates, revokes or rotates one of the cluster's access keys (`ferry auth`).
    @discardableResult
    public func changeKeys(_ change: KeyChange) throws(FerryClientError) -> AccessKeyInfo {
        try run { router async throws(FerryClientError) in try await router.changeKeys(change) }
    }

    /// The cluster's access keys, without their secrets.
    public func listKeys() throws(FerryClientError) -> [AccessKeyInfo] {
        try run { router async throws(FerryClientError) in try await router.listKeys() }
    }

    public func deleteQueue(_ name: String) throws(FerryClientError) {
        try run { router async throws(FerryClientError) in try await router.deleteQueue(name) }
    }

    public func setAttributes(_ name: String, _ attributes: QueueAttributes) throws(FerryClientError) {
        try run { router async throws(FerryClientError) in try await router.setAttributes(name, attributes) }
    }

    public func purgeQueue(_ name: String) throws(FerryClientError) {
        try run { router async throws(FerryClientError) in try await router.purgeQueue(name) }
    }

    /// The queue's description (cached metadata, refreshed on a miss); `queueNotFound` when there is none.
    public func queueDescription(_ name: String) throws(FerryClientError) -> QueueDescription {
        try queue(name)
    }

    /// The queue's statistics summed over its partitions (each read at its leader), with the age of the oldest
    /// message in milliseconds.
    public func statistics(_ queueName: String) throws(FerryClientError) -> (QueueStatistics, oldestAgeMs: Int64) {
        try run { router async throws(FerryClientError) in try await router.statistics(queueName) }
    }

    // MARK: Redrive (message move tasks)

    /// Starts a redrive of `queueName` on every partition under one task id (`PartitionRouter.startMoveTask`).
    public func startMoveTask(
        _ queueName: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) throws(FerryClientError) -> [MoveTaskStatus] {
        try run { router async throws(FerryClientError) in
            try await router.startMoveTask(
                queueName,
                taskID: taskID,
                destination: destination,
                maxMessagesPerSecond: maxMessagesPerSecond
            )
        }
    }

    /// Cancels the redrive `taskID` where it still runs; `moveTaskNotFound` when it runs nowhere.
    public func cancelMoveTask(_ queueName: String, taskID: String) throws(FerryClientError) -> [MoveTaskStatus] {
        try run { router async throws(FerryClientError) in try await router.cancelMoveTask(queueName, taskID: taskID) }
    }

    /// One partition's running redrive (first, if any) and its latest finished ones, newest first.
    public func listMoveTasks(_ queueName: String, partition: UInt32) throws(FerryClientError) -> [MoveTaskStatus] {
        try run { router async throws(FerryClientError) in
            try await router.listMoveTasks(queueName, partition: partition)
        }
    }

    /// Every partition's redrives, by partition.
    public func listMoveTasks(_ queueName: String) throws(FerryClientError) -> [[MoveTaskStatus]] {
        try run { router async throws(FerryClientError) in try await router.listMoveTasks(queueName) }
    }

    // MARK: One node

    /// A group's applied index and state digest on one node (`ClientRequest.groupDigest`).
    public func groupDigest(host: String, port: Int, group: UInt64) throws(FerryClientError) -> (UInt64, UInt64) {
        let response = try connection(host, port).call(
            .groupDigest(groupID: group),
            timeoutMs: options.requestTimeoutMs
        )
        return try Self.expect(response) { if case .digest(let a, let d) = $0 { (a, d) } else { nil } }
    }

    /// One node's health: fsync figures, disk space, the leadership changes it saw (`ClientRequest.nodeHealth`).
    public func nodeHealth(host: String, port: Int) throws(FerryClientError) -> NodeHealth {
        let response = try connection(host, port).call(.nodeHealth, timeoutMs: options.requestTimeoutMs)
        return try Self.expect(response) { if case .nodeHealth(let h) = $0 { h } else { nil } }
    }

    /// One node's view of its Raft groups.
    public func nodeStatus(host: String, port: Int) throws(FerryClientError) -> NodeStatus {
        let response = try connection(host, port).call(.nodeStatus, timeoutMs: options.requestTimeoutMs)
        return try Self.expect(response) { if case .nodeStatus(let s) = $0 { s } else { nil } }
    }
}
