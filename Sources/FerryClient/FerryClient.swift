@_exported import FerryNet
import FerryQueue
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The Swift client (DESIGN §3): caches the cluster's metadata, sends each partition's requests to its leader,
/// follows `notLeader` hints, and retries what is safe to retry until a deadline. Blocking calls, safe from any
/// thread but an event loop.
///
/// A message group's partition is `Catalog.partition(forGroup:partitions:)`, the same hash the cluster writes
/// down; messages without a group (standard queues) go round-robin.
public final class FerryClient: @unchecked Sendable {
    public struct Options: Sendable {
        /// How long one request may wait for its answer.
        public var requestTimeoutMs: Int64 = 5_000
        /// How long a call keeps retrying retriable refusals and unreachable leaders.
        public var retryDeadlineMs: Int64 = 15_000

        public init() {}
    }

    public let options: Options
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let seeds: [(host: String, port: Int)]
    let lock = NIOLock()
    var connections: [String: Connection] = [:]
    var cluster: ClusterDescription?
    /// Partition group → node believed to lead it.
    var leaders: [UInt64: UInt64] = [:]
    var roundRobin = 0
    /// Queues (ids) where the last look found a partition that could fill a receive's batch alone: a backlog.
    /// Their next receive first asks only one partition for a whole batch (`receiveIfFull`).
    var backlogged: Set<UInt64> = []

    /// - Parameter endpoints: `host:port` client addresses of some nodes (more are learned from metadata).
    public init(endpoints: [String], options: Options = Options()) throws(FerryClientError) {
        var seeds: [(String, Int)] = []
        for endpoint in endpoints {
            let parts = endpoint.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), port > 0 else { throw .badEndpoint(endpoint) }
            seeds.append((String(parts[0]), port))
        }
        guard !seeds.isEmpty else { throw .badEndpoint("(none)") }
        self.seeds = seeds
        self.options = options
    }

    deinit {
        for connection in connections.values { connection.close() }
        try? group.syncShutdownGracefully()
    }

    // MARK: Connections and routing

    func connection(_ host: String, _ port: Int) throws(FerryClientError) -> Connection {
        let key = "\(host):\(port)"
        if let open = lock.withLock({ connections[key] }), open.isActive { return open }
        let connection = try Connection(host: host, port: port, group: group)
        lock.withLock { connections[key] = connection }
        return connection
    }

    /// The client address of a node, from the cached metadata.
    func endpoint(ofNode id: UInt64) -> (String, Int)? {
        lock.withLock { cluster?.nodes.first { $0.id == id } }.map { ($0.host, Int($0.clientPort)) }
    }

    var candidates: [(String, Int)] {
        let known = lock.withLock { cluster?.nodes.map { ($0.host, Int($0.clientPort)) } ?? [] }
        return known.isEmpty ? seeds : known
    }

    static func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Sends `request` to `first` (or any node), following `notLeader` hints and retrying retriable refusals and
    /// unreachable nodes until the retry deadline. A `timeout` error (outcome unknown) is not retried here.
    func call(
        _ request: ClientRequest,
        first: (String, Int)?,
        onLeader: ((UInt64) -> Void)? = nil
    ) throws(FerryClientError)
        -> ClientResponse
    {
        let end = Self.nowMs() + options.retryDeadlineMs
        var target = first ?? candidates[0]
        var attempt = 0
        var lastError = FerryClientError.unreachable("no node answered")
        while Self.nowMs() < end {
            attempt += 1
            do {
                let response = try connection(target.0, target.1).call(request, timeoutMs: options.requestTimeoutMs)
                guard case .error(let error) = response, error.code.isRetriable else { return response }
                lastError = .server(error)
                if error.code == .notLeader, error.leaderHint != 0, let hinted = endpoint(ofNode: error.leaderHint),
                    hinted != target
                {
                    onLeader?(error.leaderHint)
                    target = hinted
                    usleep(10_000)
                    continue
                }
            } catch .timeout(let detail) {
                throw .timeout(detail)
            } catch {
                lastError = error
            }
            let all = candidates
            target = all[attempt % all.count]
            usleep(UInt32(min(100_000, 5_000 * attempt)))
        }
        throw lastError
    }

    /// Unwraps a response, turning a server refusal into `FerryClientError.server`.
    static func expect<T>(_ response: ClientResponse, _ pick: (ClientResponse) -> T?) throws(FerryClientError) -> T {
        if case .error(let error) = response { throw .server(error) }
        guard let value = pick(response) else {
            throw .server(WireError(.internal, "unexpected answer \(response)"))
        }
        return value
    }

    // MARK: Metadata

    /// Refreshes and returns the cluster's metadata.
    @discardableResult
    public func describe() throws(FerryClientError) -> ClusterDescription {
        try describe(at: nil)
    }

    /// Refreshes the metadata from `node` (nil: the first reachable node).
    @discardableResult
    func describe(at node: (String, Int)?) throws(FerryClientError) -> ClusterDescription {
        let response = try call(.describeCluster, first: node)
        let description = try Self.expect(response) { if case .cluster(let c) = $0 { c } else { nil } }
        lock.withLock {
            cluster = description
            for partition in description.partitions where partition.leader != 0 {
                leaders[partition.groupID] = partition.leader
            }
        }
        return description
    }

    /// The queue's description, from the cache or fresh metadata. A node that has not applied the queue's
    /// creation yet does not know it, so a miss asks each node in turn (for up to a second) before answering
    /// `queueNotFound`.
    func queue(_ name: String) throws(FerryClientError) -> QueueDescription {
        if let known = lock.withLock({ cluster?.queues.first { $0.name == name } }) { return known }
        let end = Self.nowMs() + 1_000
        var attempt = 0
        repeat {
            let all = candidates
            let fresh = try describe(at: all[attempt % all.count])
            if let queue = fresh.queues.first(where: { $0.name == name }) { return queue }
            attempt += 1
            usleep(20_000)
        } while Self.nowMs() < end
        throw .server(WireError(.queueNotFound, "queue \(name) does not exist"))
    }

    /// Where a partition's requests go now: the node believed to lead it, else one node after another by
    /// `attempt`. The group id is nil until the metadata lists the partition.
    func route(_ queue: QueueDescription, _ partition: UInt32, attempt: Int) -> (groupID: UInt64?, node: (String, Int))
    {
        let groupID = lock.withLock {
            cluster?.partitions.first { $0.queueID == queue.id && $0.partition == partition }?.groupID
        }
        if let groupID, let leader = lock.withLock({ leaders[groupID] }), let node = endpoint(ofNode: leader) {
            return (groupID, node)
        }
        let all = candidates
        return (groupID, all[attempt % all.count])
    }

    /// Records a leader learnt from a hint (0: unknown, so the next request tries another node).
    func noteLeader(group groupID: UInt64, node: UInt64) {
        lock.withLock { leaders[groupID] = node == 0 ? nil : node }
    }

    /// Sends a partition's request to its leader, learning leaders from hints.
    func callPartition(
        _ queue: QueueDescription,
        _ partition: UInt32,
        _ request: ClientRequest
    ) throws(FerryClientError)
        -> ClientResponse
    {
        let groupID = lock.withLock {
            cluster?.partitions.first { $0.queueID == queue.id && $0.partition == partition }?.groupID
        }
        let leader = groupID.flatMap { id in lock.withLock { leaders[id] } }
        return try call(request, first: leader.flatMap(endpoint(ofNode:))) { [self] node in
            if let groupID { lock.withLock { leaders[groupID] = node } }
        }
    }

    // MARK: Queues

    /// Creates a queue (or answers the existing one when its settings are the same).
    public func createQueue(
        _ name: String,
        partitions: UInt32 = 4,
        attributes: QueueAttributes = QueueAttributes()
    ) throws(FerryClientError) -> QueueDescription {
        // Creating is idempotent (an existing queue with the same settings is answered as created), so an
        // unknown outcome (the metadata leader changed before applying it) is asked again.
        let request = ClientRequest.createQueue(name: name, partitions: partitions, attributes: attributes)
        let end = Self.nowMs() + options.retryDeadlineMs
        var response = try call(request, first: nil)
        while case .error(let error) = response, error.code == .timeout, Self.nowMs() < end {
            usleep(20_000)
            response = try call(request, first: nil)
        }
        let queue = try Self.expect(response) { if case .queue(let q) = $0 { q } else { nil } }
        try describe()
        return queue
    }

    public func listQueues(prefix: String = "") throws(FerryClientError) -> [QueueDescription] {
        try Self.expect(try call(.listQueues(prefix: prefix), first: nil)) {
            if case .queues(let q) = $0 { q } else { nil }
        }
    }

    public func deleteQueue(_ name: String) throws(FerryClientError) {
        _ = try Self.expect(try call(.deleteQueue(name: name), first: nil)) { if case .done = $0 { () } else { nil } }
        lock.withLock { cluster = nil }
    }

    public func setAttributes(_ name: String, _ attributes: QueueAttributes) throws(FerryClientError) {
        _ = try Self.expect(try call(.setQueueAttributes(name: name, attributes: attributes), first: nil)) {
            if case .queue = $0 { () } else { nil }
        }
        lock.withLock { cluster = nil }
    }

    public func purgeQueue(_ name: String) throws(FerryClientError) {
        let queue = try queue(name)
        for partition in 0..<queue.partitions {
            _ = try Self.expect(try callPartition(queue, partition, .purgeQueue(name: name, partition: partition))) {
                if case .done = $0 { () } else { nil }
            }
        }
    }

    // MARK: Redrive (message move tasks)

    /// Starts a redrive of `queueName` (usually a dead-letter queue) on every partition under one task id:
    /// messages present now move, oldest first, to `destination` or each back to its source queue.
    /// `maxMessagesPerSecond` is the queue's rate, shared among its partitions (each moves at least one a
    /// second). If a partition refuses, the partitions already started are cancelled and the refusal is thrown.
    /// - Returns: each partition's task as it started.
    public func startMoveTask(
        _ queueName: String,
        taskID: String,
        destination: String?,
        maxMessagesPerSecond: Int
    ) throws(FerryClientError) -> [MoveTaskStatus] {
        let queue = try queue(queueName)
        let count = Int(queue.partitions)
        var started: [MoveTaskStatus] = []
        for partition in 0..<queue.partitions {
            let share = maxMessagesPerSecond / count + (Int(partition) < maxMessagesPerSecond % count ? 1 : 0)
            let request = MoveTaskRequest(
                taskID: taskID,
                destination: destination,
                maxMessagesPerSecond: maxMessagesPerSecond < 1 ? maxMessagesPerSecond : max(1, share)
            )
            var attempts = 0
            while true {
                do {
                    let response = try callPartition(
                        queue,
                        partition,
                        .startMoveTask(queue: queueName, partition: partition, request: request)
                    )
                    started.append(
                        try Self.expect(response) { if case .moveTasks(let t) = $0 { t.first } else { nil } }
                    )
                    break
                } catch {
                    // A start whose answer was lost may have taken effect: finding our task running is a success;
                    // otherwise an unknown outcome is asked again (a repeat finds the task running).
                    if let mine = (try? listMoveTasks(queueName, partition: partition))?.first,
                        mine.taskID == taskID, mine.state == .running
                    {
                        started.append(mine)
                        break
                    }
                    attempts += 1
                    if attempts < 3, Self.isUnknownOutcome(error) { continue }
                    for undo in 0..<partition {
                        _ = try? callPartition(
                            queue,
                            undo,
                            .cancelMoveTask(queue: queueName, partition: undo, taskID: taskID)
                        )
                    }
                    throw error
                }
            }
        }
        return started
    }

    /// A failure after which the request may or may not have taken effect.
    static func isUnknownOutcome(_ error: FerryClientError) -> Bool {
        switch error {
        case .timeout: return true
        case .server(let refusal): return refusal.code == .timeout
        default: return false
        }
    }

    /// Cancels the redrive `taskID` on every partition where it still runs (messages already moved stay
    /// moved). Throws `moveTaskNotFound` when it runs on none.
    /// - Returns: the cancelled partitions' tasks.
    public func cancelMoveTask(_ queueName: String, taskID: String) throws(FerryClientError) -> [MoveTaskStatus] {
        let queue = try queue(queueName)
        var cancelled: [MoveTaskStatus] = []
        var notFound: FerryClientError?
        for partition in 0..<queue.partitions {
            do {
                let response = try callPartition(
                    queue,
                    partition,
                    .cancelMoveTask(queue: queueName, partition: partition, taskID: taskID)
                )
                cancelled.append(try Self.expect(response) { if case .moveTasks(let t) = $0 { t.first } else { nil } })
            } catch {
                guard case .server(let refusal) = error, refusal.code == .moveTaskNotFound else { throw error }
                notFound = error
            }
        }
        if cancelled.isEmpty, let notFound { throw notFound }
        return cancelled
    }

    /// One partition's running redrive (first, if any) and its latest finished ones, newest first.
    public func listMoveTasks(_ queueName: String, partition: UInt32) throws(FerryClientError) -> [MoveTaskStatus] {
        let queue = try queue(queueName)
        return try Self.expect(
            try callPartition(queue, partition, .listMoveTasks(queue: queueName, partition: partition))
        ) { if case .moveTasks(let tasks) = $0 { tasks } else { nil } }
    }

    /// Every partition's redrives, by partition.
    public func listMoveTasks(_ queueName: String) throws(FerryClientError) -> [[MoveTaskStatus]] {
        let queue = try queue(queueName)
        var all: [[MoveTaskStatus]] = []
        for partition in 0..<queue.partitions { all.append(try listMoveTasks(queueName, partition: partition)) }
        return all
    }

    /// The queue's description (cached metadata, refreshed on a miss); `queueNotFound` when there is none.
    public func queueDescription(_ name: String) throws(FerryClientError) -> QueueDescription {
        try queue(name)
    }

    /// The queue's statistics summed over its partitions (each read at its leader), with the age of the oldest
    /// message in milliseconds.
    public func statistics(_ queueName: String) throws(FerryClientError) -> (QueueStatistics, oldestAgeMs: Int64) {
        let queue = try queue(queueName)
        var sum = QueueStatistics(
            visible: 0,
            inFlight: 0,
            delayed: 0,
            oldestSentAtMs: nil,
            groups: 0,
            groupsWithInFlight: 0,
            outbox: 0,
            deduplicationRecords: 0,
            producerSessions: 0,
            sent: 0,
            received: 0,
            deleted: 0,
            deadLettered: 0,
            expired: 0,
            movesAbandoned: 0
        )
        var oldestAge: Int64 = 0
        for partition in 0..<queue.partitions {
            let (part, nowMs) = try Self.expect(
                try callPartition(queue, partition, .queueStatistics(queue: queueName, partition: partition))
            ) { if case .statistics(let s, let now) = $0 { (s, now) } else { nil } }
            sum.visible += part.visible
            sum.inFlight += part.inFlight
            sum.delayed += part.delayed
            sum.groups += part.groups
            sum.groupsWithInFlight += part.groupsWithInFlight
            sum.outbox += part.outbox
            sum.deduplicationRecords += part.deduplicationRecords
            sum.producerSessions += part.producerSessions
            sum.sent += part.sent
            sum.received += part.received
            sum.deleted += part.deleted
            sum.deadLettered += part.deadLettered
            sum.expired += part.expired
            sum.movesAbandoned += part.movesAbandoned
            if let oldest = part.oldestSentAtMs {
                sum.oldestSentAtMs = min(sum.oldestSentAtMs ?? oldest, oldest)
                oldestAge = max(oldestAge, part.ageOfOldestMs(nowMs: nowMs))
            }
        }
        return (sum, oldestAge)
    }

    /// One node's view of its Raft groups.
    /// A group's applied index and state digest on one node (`ClientRequest.groupDigest`).
    public func groupDigest(host: String, port: Int, group: UInt64) throws(FerryClientError) -> (UInt64, UInt64) {
        let response = try connection(host, port).call(
            .groupDigest(groupID: group),
            timeoutMs: options.requestTimeoutMs
        )
        return try Self.expect(response) { if case .digest(let a, let d) = $0 { (a, d) } else { nil } }
    }

    public func nodeStatus(host: String, port: Int) throws(FerryClientError) -> NodeStatus {
        let response = try connection(host, port).call(.nodeStatus, timeoutMs: options.requestTimeoutMs)
        return try Self.expect(response) { if case .nodeStatus(let s) = $0 { s } else { nil } }
    }
}
